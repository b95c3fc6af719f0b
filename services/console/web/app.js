// What every console page shares: the header (navigation, as-of date, who is logged in,
// log out), the session (role, CSRF token), fetch helpers and number formatting.
// A page calls TF.page(name, render); render(session, asOf) fills <main> and resolves,
// then body.dataset.ready = "1" (tests wait for it).
"use strict";
(function (TF) {
  const params = new URLSearchParams(location.search);
  TF.asOf = params.get("as_of") || "";
  TF.params = params;

  // int64 fields come as strings in protobuf JSON.
  TF.num = (v) => (v === undefined || v === null || v === "" ? 0 : Number(v));
  TF.int = (v) => TF.num(v).toLocaleString(TF.lang);
  TF.money = (minor, currency) =>
    (TF.num(minor) / 100).toLocaleString(TF.lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) +
    (currency ? " " + currency : "");
  TF.pct = (share) => (TF.num(share) * 100).toLocaleString(TF.lang, { maximumFractionDigits: 1 }) + "%";
  TF.date = (ts) => (ts ? String(ts).slice(0, 10) : "");

  // Element builder: TF.el("td", {class: "n", "data-testid": "x", dataset: {value: 1}}, "text", child...)
  TF.el = function (tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "dataset") Object.assign(e.dataset, v);
      else if (k === "text") e.textContent = v;
      else if (v !== undefined && v !== null) e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  };
  // A number cell/span with its machine value in data-value (tests compare that).
  TF.numEl = (tag, testid, value, text, cls) =>
    TF.el(tag, { "data-testid": testid, class: cls || "n", dataset: { value: String(value) } }, text);

  TF.withAsOf = (path) => (TF.asOf ? path + (path.includes("?") ? "&" : "?") + "as_of=" + TF.asOf : path);

  TF.api = async function (path, options) {
    const opts = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (opts.method && opts.method !== "GET") opts.headers["X-CSRF-Token"] = TF.session ? TF.session.csrf : "";
    const res = await fetch(path, opts);
    if (res.status === 401) {
      location.href = "/login";
      throw new Error("not logged in");
    }
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch (e) {
      body = { error: { code: "HTTP " + res.status, message: text } };
    }
    return { status: res.status, ok: res.ok, body };
  };
  TF.errorBox = function (err, testid) {
    const e = (err && err.error) || err || {};
    const text = e.code === "PERMISSION_DENIED" ? TF.t("error.forbidden") : (e.code || TF.t("error.generic")) + ": " + (e.message || "");
    return TF.el("div", { class: "error", "data-testid": testid || "error" }, text);
  };

  function header(name, session) {
    const nav = TF.el("nav");
    for (const [page, href] of [["overview", "/"], ["customer", "/customer"], ["watch", "/watch"], ["whatif", "/whatif"]]) {
      nav.append(TF.el("a", { href: TF.withAsOf(href), class: page === name ? "active" : null, "data-testid": "nav-" + page }, TF.t("nav." + page)));
    }
    nav.append(TF.el("a", { href: TF.withAsOf("/report"), "data-testid": "nav-report" }, TF.t("nav.report")));
    const form = TF.el("form", { "data-testid": "asof-form" });
    const input = TF.el("input", { type: "date", name: "as_of", value: TF.asOf, "data-testid": "asof-input" });
    form.append(TF.el("label", {}, TF.t("asof"), input), TF.el("button", { type: "submit", class: "secondary", "data-testid": "asof-apply" }, TF.t("asof.apply")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams(location.search);
      if (input.value) p.set("as_of", input.value);
      else p.delete("as_of");
      location.search = p.toString();
    });
    const out = TF.el("button", { type: "button", class: "secondary", "data-testid": "logout" }, TF.t("nav.logout"));
    out.addEventListener("click", async () => {
      await TF.api("/logout", { method: "POST" });
      location.href = "/login";
    });
    const who = TF.el("span", { class: "who", "data-testid": "session-role" }, session.name + " · " + session.role);
    return TF.el("header", {}, TF.el("span", { class: "brand" }, "tierflow"), nav, form, who, out);
  }

  TF.page = async function (name, render) {
    const main = document.querySelector("main");
    try {
      const s = await TF.api("/api/session");
      TF.session = s.body;
      document.body.prepend(header(name, TF.session));
      TF.translate(document);
      await render(main, TF.session);
    } catch (e) {
      console.warn(e);
      main.append(TF.el("div", { class: "error", "data-testid": "error" }, String(e)));
    }
    document.body.dataset.ready = "1";
  };
})(window.TF);
