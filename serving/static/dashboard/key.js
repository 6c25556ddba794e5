/* What the dashboard's pages share: the access key, reading with it, and the language.
 *
 * The key comes from the page's form or from the URL fragment (#key=…, which browsers never
 * send to the server); it is kept in sessionStorage (this tab only), sent as a Bearer token,
 * never put in a URL.  Every page of the dashboard reads the same key and language, so a
 * user who moves between them is not asked again.  Loaded before each page's own script.
 */
"use strict";

window.TriageDashboard = (() => {
  const KEY_STORE = "triage.dashboard.key";
  const LANG_STORE = "triage.dashboard.lang";
  const $ = (id) => document.getElementById(id);

  /** The key was refused (401): the page asks for another. */
  class Unauthorized extends Error {}
  /** The service is not ready (503): the page says so and retries. */
  class Unavailable extends Error {}

  const savedLanguage = () => (localStorage.getItem(LANG_STORE) === "en" ? "en" : "zh");

  /**
   * Wire a page's key panel, "forget key" and language buttons around its own ``state``
   * (``key``, ``lang``, ``timer``), ``refresh()`` every ``refreshMs`` while the tab is shown,
   * and ``applyLanguage()``.  Returns what the page calls: ``start()`` (once, on load),
   * ``connect()`` (after the page's own wiring), ``showKeyPanel(message)`` and
   * ``getJSON(path, params)``.
   */
  function keyedPage({ state, refresh, refreshMs, applyLanguage }) {
    function takeKeyFromFragment() {
      const match = window.location.hash.match(/(?:^#|&)key=([^&]*)/);
      if (!match) return;
      const key = decodeURIComponent(match[1]).trim();
      if (key) sessionStorage.setItem(KEY_STORE, key);
      // Out of the address bar, the history and any bookmark made from now on.
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }

    function showKeyPanel(message) {
      state.key = null;
      sessionStorage.removeItem(KEY_STORE);
      clearInterval(state.timer);
      $("board").hidden = true;
      $("forget-key").hidden = true;
      $("key-panel").hidden = false;
      $("key-error").hidden = !message;
      $("key-error").textContent = message || "";
      document.body.dataset.state = "nokey";
    }

    function useKey(key) {
      state.key = key;
      $("key-panel").hidden = true;
      $("board").hidden = false;
      $("forget-key").hidden = false;
      refresh();
      clearInterval(state.timer);
      state.timer = setInterval(() => { if (!document.hidden) refresh(); }, refreshMs);
    }

    async function getJSON(path, params) {
      const query = new URLSearchParams();
      for (const [name, value] of Object.entries(params || {})) if (value) query.set(name, value);
      const url = `${path}${query.toString() ? `?${query}` : ""}`;
      const response = await fetch(url, {
        headers: { Authorization: `Bearer ${state.key}`, Accept: "application/json" },
        cache: "no-store",
      });
      if (response.status === 401) throw new Unauthorized();
      if (response.status === 503) throw new Unavailable();
      if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
      return response.json();
    }

    function start() {
      takeKeyFromFragment();
      applyLanguage();
      $("key-form").addEventListener("submit", (event) => {
        event.preventDefault();
        const key = $("key-input").value.trim();
        $("key-input").value = "";
        if (!key) return;
        sessionStorage.setItem(KEY_STORE, key);
        useKey(key);
      });
      $("forget-key").addEventListener("click", () => showKeyPanel(""));
      for (const button of document.querySelectorAll("[data-lang]")) {
        button.addEventListener("click", () => {
          state.lang = button.dataset.lang;
          localStorage.setItem(LANG_STORE, state.lang);
          applyLanguage();
        });
      }
    }

    function connect() {
      const key = sessionStorage.getItem(KEY_STORE);
      if (key) useKey(key);
      else showKeyPanel("");
    }

    return { start, connect, showKeyPanel, getJSON };
  }

  return { Unauthorized, Unavailable, keyedPage, savedLanguage };
})();
