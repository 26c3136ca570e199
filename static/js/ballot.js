/* The ballot page: once the server has read the code from /ballot?code=..., take it out of
   the address bar and of this history entry, so that it is not left on screen, in the
   back-forward list or in a shared link (the form carries the code in a hidden field). */
(function () {
  "use strict";
  if (new URLSearchParams(location.search).has("code")) {
    history.replaceState(null, "", location.pathname + location.hash);
  }
})();
