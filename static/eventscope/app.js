// Behaviour that pages declare with data attributes, so no page needs inline script (the Content Security
// Policy allows only our own files and nonce'd scripts).
(function () {
  "use strict";

  // <form data-drop-empty>: HTMX requests leave out empty fields, so pushed URLs stay short and shareable.
  document.addEventListener("htmx:configRequest", function (event) {
    var source = event.detail.elt;
    if (!source || !source.closest || !source.closest("[data-drop-empty]")) return;
    var data = event.detail.formData;
    if (!data) return;
    Array.from(new Set(data.keys())).forEach(function (key) {
      if (data.getAll(key).every(function (value) { return value === ""; })) data.delete(key);
    });
  });

  document.addEventListener("click", function (event) {
    // <button data-copy="element-id" [data-copied="Copied"]>: copy that element's text (or value).
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText("value" in source && source.value !== undefined ? source.value : source.textContent);
    if (button.hasAttribute("data-copied")) button.textContent = button.getAttribute("data-copied");
  });

  // <form data-confirm="Question?">: ask before submitting.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
})();
