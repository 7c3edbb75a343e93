/* gabalab charts: draws the explorers that gabalab.charts writes into a page.
 *
 * Each chart output queues [id, Vega-Lite spec, Vega-Embed options] on
 * window.gabalabCharts. This script draws what is queued and replaces the queue by an
 * object whose push() draws at once, so it does not matter whether it runs before or
 * after the outputs, or before or after the Vega builds (it tries again when the page has
 * loaded). Drawn views are kept in window.gabalabChartViews by id, for the tests.
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

  if (typeof module === "object" && module && module.exports) {
    module.exports = FUNCTIONS; // Node: the unit tests run the functions directly
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
    el.innerHTML = "";
    // Keys pressed on a control belong to the control: a notebook page (JupyterLab)
    // would otherwise take arrows, Home and End as its own shortcuts.
    el.addEventListener("keydown", function (event) {
      if (event.target && event.target.tagName === "INPUT") event.stopPropagation();
    });
    root.vegaEmbed(el, spec, options).then(function (result) {
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
