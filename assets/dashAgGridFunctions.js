// Value formatters used by the runs table's column definitions.
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

dagfuncs.tbDuration = function (seconds) {
  if (seconds === null || seconds === undefined) { return ""; }
  var s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  if (h) { return h + "h " + pad(m) + "m"; }
  if (m) { return m + "m " + pad(r) + "s"; }
  return r + "s";
};
