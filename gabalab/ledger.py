"""Verdicts on the source chapters' claims, computed from what a section measured.

The book keeps a ledger of the claims of its source chapters (``book/source_chapters.md``);
each section glues the verdict on a claim from its own measurement, never as a fixed word.
Two ways to reach one: :func:`claim_verdict` from a check of each part of a claim,
:func:`distance_verdict` from how far a measurement lies from what the claim says.
"""

from __future__ import annotations

from gabalab._checks import check_bool, check_real

__all__ = ["VERDICT_WORDS", "claim_verdict", "distance_verdict"]

#: The words a claim's verdict can take, from none of its parts holding to all.
VERDICT_WORDS: tuple[str, str, str] = ("contradicted", "holds in part", "holds")


def claim_verdict(*parts: bool, reproducible: bool = True) -> str:
    """The verdict on a claim of the source from the checks of its parts.

    Parameters
    ----------
    *parts : bool
        One check per part of the claim: whether what the section measured agrees.
    reproducible : bool
        False when the section cannot measure what the claim is about (another sample,
        another setting); the parts are then not looked at.

    Returns
    -------
    str
        ``"holds"`` if every part holds, ``"contradicted"`` if none does, ``"holds in
        part"`` otherwise, and ``"cannot be reproduced"`` when not ``reproducible``.

    Raises
    ------
    TypeError
        If a part or ``reproducible`` is not a bool (a NumPy bool is accepted).
    ValueError
        If no part is given.

    Examples
    --------
    >>> claim_verdict(True), claim_verdict(True, False), claim_verdict(False)
    ('holds', 'holds in part', 'contradicted')
    >>> claim_verdict(True, reproducible=False)
    'cannot be reproduced'
    """
    checked = [check_bool(f"parts[{i}]", p) for i, p in enumerate(parts)]
    if not checked:
        raise ValueError("parts must hold at least one check")
    if not check_bool("reproducible", reproducible):
        return "cannot be reproduced"
    n_true = sum(checked)
    if n_true == len(checked):
        return VERDICT_WORDS[2]
    return VERDICT_WORDS[1] if n_true else VERDICT_WORDS[0]


def distance_verdict(distance: float, *, holds_below: float,
                     contradicted_above: float) -> str:
    """The verdict on a claim from how far a measurement is from what the claim says.

    A claim such as "Adam reaches the fixed point in 60 steps" or "the probe falls to
    chance" says that some distance is zero. Below ``holds_below`` the claim holds, above
    ``contradicted_above`` it is contradicted, in between it holds in part.

    Parameters
    ----------
    distance : float
        The measured distance from what the claim says, finite (a negative value, a
        measurement on the claim's side, counts as holding).
    holds_below : float
        Largest distance that still counts as the claim holding, > 0.
    contradicted_above : float
        Distance beyond which the claim is contradicted, >= ``holds_below``.

    Returns
    -------
    str
        ``"holds"``, ``"holds in part"`` or ``"contradicted"``.

    Raises
    ------
    TypeError
        If an argument is not a real number.
    ValueError
        If an argument is not finite, ``holds_below`` is not > 0, or
        ``contradicted_above`` is below ``holds_below``.

    Examples
    --------
    >>> distance_verdict(0.02, holds_below=1e-3, contradicted_above=1e-2)
    'contradicted'
    >>> distance_verdict(2.0, holds_below=1.0, contradicted_above=3.0)
    'holds in part'
    """
    distance = check_real("distance", distance)
    holds_below = check_real("holds_below", holds_below, positive=True)
    contradicted_above = check_real("contradicted_above", contradicted_above, positive=True)
    if contradicted_above < holds_below:
        raise ValueError(f"contradicted_above must be >= holds_below ({holds_below}), got "
                         f"{contradicted_above}")
    if distance < holds_below:
        return VERDICT_WORDS[2]
    return VERDICT_WORDS[0] if distance > contradicted_above else VERDICT_WORDS[1]
