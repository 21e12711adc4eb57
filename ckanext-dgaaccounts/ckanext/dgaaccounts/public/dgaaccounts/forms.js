/* Small progressive enhancements of the extension's forms; every form works without them.
   - The agency of a registration: only the chosen part ("on the portal" or "not listed")
     shows, and the other part's field is disabled, so it is not sent.
   - Password fields: a "Show password" toggle (the button is in the page, hidden until this
     script runs, its words translated by the page). */
(function () {
  "use strict";

  function agencyChoice() {
    var radios = document.querySelectorAll('input[name="agency_listed"]');
    if (!radios.length) { return; }
    function apply() {
      var chosen = document.querySelector('input[name="agency_listed"]:checked');
      var value = chosen ? chosen.value : "yes";
      document.querySelectorAll("[data-agency-part]").forEach(function (part) {
        var shown = part.getAttribute("data-agency-part") === value;
        part.hidden = !shown;
        part.querySelectorAll("input").forEach(function (input) { input.disabled = !shown; });
      });
    }
    radios.forEach(function (radio) { radio.addEventListener("change", apply); });
    apply();
  }

  function passwordToggles() {
    document.querySelectorAll("button.dgaaccounts-reveal").forEach(function (button) {
      var field = document.getElementById(button.getAttribute("data-target"));
      if (!field) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var show = field.type === "password";
        field.type = show ? "text" : "password";
        button.textContent = button.getAttribute(show ? "data-hide" : "data-show");
        button.setAttribute("aria-pressed", show ? "true" : "false");
      });
      // Never leave a password readable in a field the browser may keep: hide it on submit.
      if (field.form) {
        field.form.addEventListener("submit", function () { field.type = "password"; });
      }
    });
  }

  function ready() { agencyChoice(); passwordToggles(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
