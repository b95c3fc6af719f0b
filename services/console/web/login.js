// The login page: shows why the last attempt was refused; the form posts to /login.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  TF.translate(document);
  const why = document.body.dataset.error;
  if (why) {
    const box = document.querySelector('[data-testid="login-error"]');
    box.textContent = TF.t("login.error." + why);
    box.hidden = false;
  }
  document.body.dataset.ready = "1";
});
