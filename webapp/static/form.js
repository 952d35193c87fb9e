// Progressive touches only; every page works without this file.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Send keyboard and screen-reader users straight to the list of problems.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  // One click, one submission (the server is idempotent anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.dataset.label = button.textContent;
        button.disabled = true;
        if (button.dataset.busy) button.textContent = button.dataset.busy;
      });
    });
  });
});
// Coming back with the Back button must not leave the buttons disabled.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("button[type=submit]:disabled").forEach(function (button) {
    button.disabled = false;
    if (button.dataset.label) button.textContent = button.dataset.label;
  });
});
