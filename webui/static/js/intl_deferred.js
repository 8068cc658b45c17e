/* Loaded just before uPlot (base.html). A page's first Intl formatter costs the browser about
 * 30 ms of main-thread CPU (it loads its locale data), and uPlot makes one as it loads, for its
 * default axis and legend values, which our charts replace with their own (chart.js fmtX,
 * fmtTick; the legend is ours). So while uPlot loads, Intl.NumberFormat makes formatters that
 * create the real one when first used; core.js, next in the page, puts the real constructor
 * back at once. */
(function () {
  "use strict";
  const Real = Intl.NumberFormat;
  function Deferred(locales, options) {
    let real = null;
    const get = () => real || (real = new Real(locales, options));
    return {
      format: (v) => get().format(v),
      formatToParts: (v) => get().formatToParts(v),
      resolvedOptions: () => get().resolvedOptions(),
    };
  }
  Deferred.supportedLocalesOf = (locales, options) => Real.supportedLocalesOf(locales, options);
  window.LT_NUMBER_FORMAT = Real;
  Intl.NumberFormat = Deferred;
})();
