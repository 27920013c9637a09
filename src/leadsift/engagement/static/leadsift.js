/* leadsift tracking script: page views and forms, first-party, no dependencies.
   Embed with <script src="https://YOUR-LEADSIFT/t/leadsift.js" async></script>.
   - A first-party cookie ls_aid (random, SameSite=Lax) on this site identifies the browser
     anonymously; it lives 390 days (within the CNIL's 13 months) and is never extended.
   - Each page view goes to the leadsift app by navigator.sendBeacon (text/plain, no preflight).
   - Forms marked data-leadsift-form are posted to the app; the form's data-leadsift-thanks text
     (or the error) is shown in its [data-leadsift-status] element, created when missing. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || window.__leadsift) return;
  window.__leadsift = true; // embedded twice: one page view
  var app = new URL(script.src).origin;
  var MAX_AGE = 390 * 24 * 3600;

  function randomId() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function visitorId() {
    var found = document.cookie.match(/(?:^|;\s*)ls_aid=([A-Za-z0-9_-]{8,64})(?:;|$)/);
    if (found) return found[1];
    var id = randomId();
    document.cookie = "ls_aid=" + id + "; path=/; max-age=" + MAX_AGE + "; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
    return id;
  }

  var aid = visitorId();
  var params = new URLSearchParams(location.search);
  // A tracked email link's landing page carries ls_t (who clicked): sent once with the view,
  // then removed from the address bar so it is neither bookmarked nor shared.
  var token = params.get("ls_t");
  var view = {
    type: "page_view", id: randomId(), aid: aid, url: location.href,
    title: document.title.slice(0, 500), referrer: document.referrer
  };
  if (token) view.t = token;
  var text = JSON.stringify(view);
  if (!(navigator.sendBeacon && navigator.sendBeacon(app + "/t/e", text))) {
    fetch(app + "/t/e", {method: "POST", body: text, keepalive: true, mode: "no-cors"})
      .catch(function () {});
  }
  if (token !== null && history.replaceState) {
    params.delete("ls_t");
    var query = params.toString();
    history.replaceState(history.state, "", location.pathname + (query ? "?" + query : "") + location.hash);
  }

  function show(form, message, state) {
    var status = form.querySelector("[data-leadsift-status]");
    if (!status) {
      status = document.createElement("p");
      status.setAttribute("data-leadsift-status", "");
      status.setAttribute("role", "status");
      form.appendChild(status);
    }
    status.textContent = message; // text, never HTML
    form.setAttribute("data-leadsift-state", state);
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-leadsift-form]")) return;
    event.preventDefault();
    if (form.getAttribute("data-leadsift-state") === "sending") return;
    var body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (typeof value === "string") body.append(name, value);
    });
    var wording = form.querySelector("[data-leadsift-consent-text]");
    if (wording && !body.has("consent_text")) {
      body.append("consent_text", wording.textContent.replace(/\s+/g, " ").trim());
    }
    body.append("ls_aid", aid);
    body.append("ls_url", location.href);
    body.append("ls_form", form.getAttribute("data-leadsift-form") || "");
    show(form, "", "sending");
    fetch(app + "/t/form", {method: "POST", body: body, keepalive: true})
      .then(function (response) {
        return response.json().then(function (answer) { return {ok: response.ok, answer: answer}; });
      })
      .then(function (result) {
        if (result.ok) {
          show(form, form.getAttribute("data-leadsift-thanks") || "Thank you.", "sent");
          form.reset();
        } else {
          var error = result.answer && result.answer.error;
          show(form, (error && error.message) || "The form could not be sent.", "error");
        }
      }, function () {
        show(form, "The form could not be sent; please try again.", "error");
      });
  });
})();
