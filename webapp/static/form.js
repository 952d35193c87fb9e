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
// Hints while typing; the server checks the same rules and has the last word.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.querySelector("form[data-zips-by-city]");
  if (!form) return;
  narrowZipsByCity(form);
  checkAreas(form);
});

// A live note under an input, read out by screen readers when it changes.
function noteFor(input) {
  var note = document.createElement("p");
  note.className = "live-note";
  note.id = "note-" + input.name;
  note.setAttribute("aria-live", "polite");
  input.insertAdjacentElement("afterend", note);
  var described = input.getAttribute("aria-describedby") || "";
  input.setAttribute("aria-describedby", (described + " " + note.id).trim());
  return note;
}

// Choosing a city narrows the ZIP suggestions to those seen with it.
function narrowZipsByCity(form) {
  var city = form.querySelector("#field-city");
  var zip = form.querySelector("#field-statezip");
  var list = document.getElementById("statezips");
  if (!city || !zip || !list) return;
  var byCity = {};
  var given = JSON.parse(form.dataset.zipsByCity || "{}");
  Object.keys(given).forEach(function (name) { byCity[name.toLowerCase()] = given[name]; });
  var everyZip = Array.prototype.map.call(list.options, function (o) { return o.value; });
  var note = noteFor(zip);
  function offer(zips) {
    list.replaceChildren.apply(list, zips.map(function (value) {
      var option = document.createElement("option");
      option.value = value;
      return option;
    }));
  }
  function narrow() {
    var name = city.value.trim();
    var zips = byCity[name.toLowerCase()];
    if (!zips) {
      offer(everyZip);
      note.classList.remove("live-note-warn");
      note.textContent = name ? "No sale seen in " + name + " yet: every known ZIP code is offered." : "";
      return;
    }
    offer(zips);
    if (zips.length === 1 && !zip.value.trim()) zip.value = zips[0];
    var typed = zip.value.trim().toUpperCase();
    var text = "ZIP codes seen with " + name + ": " + zips.join(", ") + ".";
    var unseen = typed && zips.indexOf(typed) < 0;
    if (unseen) text += " " + typed + " is not one of them: check the city or the ZIP code.";
    note.classList.toggle("live-note-warn", Boolean(unseen));
    note.textContent = text;
  }
  city.addEventListener("input", narrow);
  zip.addEventListener("input", narrow);
  narrow();
}

// Living area must be area above ground plus basement: say which number to change.
function checkAreas(form) {
  var living = form.querySelector("#field-sqft_living");
  var above = form.querySelector("#field-sqft_above");
  var basement = form.querySelector("#field-sqft_basement");
  if (!living || !above || !basement) return;
  var note = noteFor(living);
  note.classList.add("live-note-warn");
  function number(input) {
    var text = input.value.replace(/,/g, "").trim();
    return /^\d+$/.test(text) ? parseInt(text, 10) : NaN;
  }
  function grouped(n) { return n.toLocaleString("en-US"); }
  function check() {
    var l = number(living), a = number(above), b = number(basement);
    if (isNaN(l) || isNaN(a) || isNaN(b) || l === a + b) {
      note.textContent = "";
      return;
    }
    var fix = "set living area to " + grouped(a + b);
    if (l > a) fix += ", or basement area to " + grouped(l - a);
    else if (l > b) fix += ", or area above ground to " + grouped(l - b);
    note.textContent = "Living area (" + grouped(l) + " sq ft) must equal area above ground " +
      "plus basement area (" + grouped(a) + " + " + grouped(b) + " = " + grouped(a + b) +
      " sq ft): " + fix + ".";
  }
  [living, above, basement].forEach(function (input) { input.addEventListener("input", check); });
  check();
}

// Coming back with the Back button must not leave the buttons disabled.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("button[type=submit]:disabled").forEach(function (button) {
    button.disabled = false;
    if (button.dataset.label) button.textContent = button.dataset.label;
  });
});
