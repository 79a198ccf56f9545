// Cell renderers for the runs table (dash-ag-grid looks them up by name here).
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

dagcomponentfuncs.StatusBadge = function (props) {
  var status = String(props.value || "");
  return React.createElement("span", { className: "tb-badge tb-status-" + status }, status);
};
