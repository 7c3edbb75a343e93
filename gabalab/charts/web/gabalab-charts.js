/* gabalab charts: draws the explorers that gabalab.charts writes into a page.
 *
 * Each chart output queues [id, Vega-Lite spec, Vega-Embed options] on
 * window.gabalabCharts. This script draws what is queued and replaces the queue by an
 * object whose push() draws at once, so it does not matter whether it runs before or
 * after the outputs, or before or after the Vega builds (it tries again when the page has
 * loaded). Drawn views are kept in window.gabalabChartViews by id, for the tests.
 *
 * A chart wider than its column (a phone) is drawn again with narrower panels, so that its
 * text keeps its size (see narrowed below); the book's stylesheet scales what remains.
 *
 * The one expression function that a chart needs beyond Vega's own is registered here:
 * gabalabToyTrajectory, the iterates of SGD or Adam on the two-task toy of section 12.4
 * (a loop, which Vega expressions cannot state; Adam has no closed form).
 */
(function (root) {
  "use strict";

  var QUEUE = "gabalabCharts";
  var ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

  /* theta_0 .. theta_nSteps on the two-task toy of section 12.4,
   * L(theta) = rho/2 (theta - 1)^2 + 1/2 (theta + 1)^2, from theta_0 = 0, with
   *   "sgd":  theta <- theta - lr * L'(theta), in the order of operations of
   *           gabalab.toy.simulate_sgd (so the iterates are the same doubles);
   *   "adam": torch.optim.Adam with its defaults (betas 0.9, 0.999, eps 1e-8), in the
   *           order of operations of its single-tensor float64 path, as in
   *           gabalab.toy.train_toy(rho, "adam", ...).
   * After an overflow the first non-finite iterate is repeated, as in the Python twins. */
  function toyTrajectory(optimizer, rho, lr, nSteps) {
    var n = Math.max(0, Math.floor(nSteps));
    var adam = optimizer === "adam";
    var theta = 0, m = 0, v = 0;
    var out = [theta];
    for (var k = 1; k <= n; k++) {
      var g = rho * (theta - 1) + (theta + 1);
      if (adam) {
        m = m + (1 - ADAM.beta1) * (g - m);
        v = v * ADAM.beta2 + (1 - ADAM.beta2) * g * g;
        var stepSize = lr / (1 - Math.pow(ADAM.beta1, k));
        var denom = Math.sqrt(v) / Math.sqrt(1 - Math.pow(ADAM.beta2, k)) + ADAM.eps;
        theta = theta + (-stepSize) * m / denom;
      } else {
        theta = theta - lr * g;
      }
      out.push(theta);
      if (!isFinite(theta)) {
        for (var j = k + 1; j <= n; j++) out.push(theta);
        break;
      }
    }
    return out;
  }

  var FUNCTIONS = { gabalabToyTrajectory: toyTrajectory };

  /* A chart drawn wider than its column (a phone) is drawn once more with each panel
   * narrowed by the excess, to no less than NARROWEST pixels, so that its text keeps its
   * size; whatever still does not fit, the book's stylesheet scales down. A panel's width is
   * every numeric "width" of the specification outside its data and config. */
  var NARROWEST = 200, FIT_TRIES = 2;
  function narrowed(spec, excess) {
    var changed = false;
    function walk(node) {
      if (Array.isArray(node)) { node.forEach(walk); return; }
      if (!node || typeof node !== "object") return;
      if (typeof node.width === "number" && node.width > NARROWEST) {
        node.width = Math.max(NARROWEST, Math.floor(node.width - excess));
        changed = true;
      }
      Object.keys(node).forEach(function (key) {
        if (key !== "data" && key !== "datasets" && key !== "config") walk(node[key]);
      });
    }
    var copy = JSON.parse(JSON.stringify(spec));
    walk(copy);
    return changed ? copy : null;
  }

  if (typeof module === "object" && module && module.exports) {
    // Node: the unit tests run the functions directly
    module.exports = { gabalabToyTrajectory: toyTrajectory, narrowed: narrowed,
                       NARROWEST: NARROWEST };
    return;
  }

  var views = root.gabalabChartViews = root.gabalabChartViews || {};
  var registered = false;

  function register() {
    if (registered) return true;
    if (!root.vega || !root.vegaEmbed) return false;
    Object.keys(FUNCTIONS).forEach(function (name) {
      root.vega.expressionFunction(name, FUNCTIONS[name]);
    });
    registered = true;
    return true;
  }

  function draw(item) {
    var id = item[0], spec = item[1], options = item[2];
    var el = document.getElementById(id);
    if (!el || el.getAttribute("data-chart") === "drawing" || el.getAttribute("data-chart") === "drawn") {
      return true;
    }
    if (!register()) return false;
    el.setAttribute("data-chart", "drawing");
    var column = el.getBoundingClientRect().width; // before Vega-Embed makes it inline-block
    el.innerHTML = "";
    // Keys pressed on a control belong to the control: a notebook page (JupyterLab)
    // would otherwise take arrows, Home and End as its own shortcuts.
    el.addEventListener("keydown", function (event) {
      if (event.target && event.target.tagName === "INPUT") event.stopPropagation();
    });
    // Narrowing is not exact (titles, labels beside bars): up to FIT_TRIES more drawings.
    function fit(current, tries) {
      return function (result) {
        var svg = el.querySelector("svg");
        var drawn = svg ? parseFloat(svg.getAttribute("width")) : 0;
        var smaller = tries > 0 && column > 0 && drawn > column + 1
          ? narrowed(current, drawn - column) : null;
        if (!smaller) return result;
        result.finalize();
        el.innerHTML = "";
        return root.vegaEmbed(el, smaller, options).then(fit(smaller, tries - 1));
      };
    }
    root.vegaEmbed(el, spec, options).then(fit(spec, FIT_TRIES)).then(function (result) {
      views[id] = result.view;
      el.setAttribute("data-chart", "drawn");
    }).catch(function (err) {
      el.setAttribute("data-chart", "failed");
      el.textContent = "This explorer could not be drawn: " + err;
      console.error("gabalab chart " + id + ":", err);
    });
    return true;
  }

  var waiting = [];
  function drawWaiting() {
    waiting = waiting.filter(function (item) { return !draw(item); });
  }

  var queued = root[QUEUE];
  if (!queued || typeof queued.push !== "function" || Array.isArray(queued)) {
    root[QUEUE] = {
      push: function () {
        for (var i = 0; i < arguments.length; i++) {
          if (!draw(arguments[i])) waiting.push(arguments[i]);
        }
        return waiting.length;
      }
    };
    (Array.isArray(queued) ? queued : []).forEach(function (item) { root[QUEUE].push(item); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawWaiting);
  }
  root.addEventListener("load", drawWaiting);
})(typeof window !== "undefined" ? window : this);
