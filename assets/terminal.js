// The terminal follows the tail while the reader is at the bottom, and stays put when they
// scroll up to read: a MutationObserver sees each append (a Patch from a live tick).
(function () {
  var NEAR = 40;
  function attach(el) {
    if (el._tbFollow !== undefined) { return; }
    el._tbFollow = true;
    el.addEventListener("scroll", function () {
      el._tbFollow = el.scrollHeight - el.scrollTop - el.clientHeight < NEAR;
    });
    new MutationObserver(function () {
      if (el._tbFollow) { el.scrollTop = el.scrollHeight; }
    }).observe(el, { childList: true, subtree: true, characterData: true });
    el.scrollTop = el.scrollHeight;
  }
  new MutationObserver(function () {
    document.querySelectorAll(".tb-terminal").forEach(attach);
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
