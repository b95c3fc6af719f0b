// The customer page: search by id or name; for one customer (?id=) its tier (as of the
// page's date), every dimension's class, the explanation an agent can read out, the
// distance to keep and to reach the next tier, receivable and ageing, the history of tier
// changes, upcoming occasions, messages sent, and (admin) an override form.
"use strict";
TF.page("customer", async (main, session) => {
  main.append(TF.el("h1", {}, TF.t("customer.title")));
  const q = TF.el("input", { type: "search", name: "q", value: TF.params.get("q") || "", placeholder: TF.t("customer.search"), "data-testid": "customer-search" });
  const form = TF.el("form", { class: "inline" }, q, TF.el("button", { type: "submit", "data-testid": "customer-search-submit" }, TF.t("customer.find")));
  const results = TF.el("div", { "data-testid": "customer-search-results" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await search(q.value, results);
  });
  main.append(form, results);
  if (TF.params.get("q")) await search(TF.params.get("q"), results);
  const id = TF.params.get("id");
  if (id) await showCustomer(main, id, session);
});

async function search(text, results) {
  results.replaceChildren();
  if (!text) return;
  const r = await TF.api("/api/customers?q=" + encodeURIComponent(text));
  if (!r.ok) {
    results.append(TF.errorBox(r.body, "customer-search-error"));
    return;
  }
  const table = TF.el("table", {});
  for (const m of r.body.matches || []) {
    const link = TF.el("a", { href: TF.withAsOf("/customer?id=" + encodeURIComponent(m.customer_id)), "data-testid": "customer-result-" + m.customer_id }, m.customer_id);
    table.append(TF.el("tr", {}, TF.el("td", {}, link), TF.el("td", {}, m.name), TF.el("td", {}, m.tier)));
  }
  results.append(table);
}

function part(main, title, testid) {
  const box = TF.el("div", { class: "panel", "data-testid": testid });
  main.append(TF.el("h2", {}, TF.t(title)), box);
  return box;
}

async function showCustomer(main, id, session) {
  const r = await TF.api(TF.withAsOf("/api/customer/" + encodeURIComponent(id)));
  if (!r.ok) {
    main.append(TF.errorBox(r.body, "customer-error"));
    return;
  }
  const c = r.body;
  const a = c.assignment || {};
  const cur = (c.account && c.account.currency) || "";
  const grid = TF.el("div", { class: "grid2" });
  main.append(grid);

  const tierBox = TF.el("div", { class: "panel" });
  grid.append(tierBox);
  tierBox.append(TF.el("h2", {}, c.customer_id));
  if (a.error) {
    tierBox.append(TF.errorBox(a, "customer-tier-error"));
  } else {
    tierBox.append(TF.el("div", { class: "card" }, TF.el("div", { class: "label" }, TF.t("customer.tier")),
      TF.el("div", { class: "num", "data-testid": "customer-tier", dataset: { value: a.tier } }, a.tier),
      TF.el("div", { class: "muted" }, (a.standard_version || "") + " · " + TF.date(a.assigned_time))));
    if (a.pending_downgrade && a.pending_downgrade.to_tier) {
      tierBox.append(TF.el("p", { "data-testid": "customer-pending" }, TF.t("customer.pending") + ": " + a.pending_downgrade.to_tier + " " + TF.date(a.pending_downgrade.effective_time)));
    }
    if (a.override && a.override.tier) {
      tierBox.append(TF.el("p", { "data-testid": "customer-override" }, TF.t("override.current") + ": " + a.override.kind + " " + a.override.tier + " (" + a.override.actor + ", " + a.override.reason_code + ")"));
    }
    const dims = TF.el("table", { "data-testid": "customer-dimensions" });
    for (const d of a.dimensions || []) {
      dims.append(TF.el("tr", { "data-testid": "customer-dim-" + d.dimension }, TF.el("td", {}, d.dimension), TF.el("td", { dataset: { value: d.class_name } }, d.class_name), TF.el("td", { class: "muted" }, d.detail)));
    }
    tierBox.append(TF.el("h2", {}, TF.t("customer.dimensions")), dims);
    const dist = TF.el("div", {});
    if (a.to_keep && a.to_keep.text) dist.append(TF.el("p", { "data-testid": "customer-to-keep" }, TF.t("customer.to_keep") + ": " + a.to_keep.text));
    if (a.to_next && a.to_next.text) dist.append(TF.el("p", { "data-testid": "customer-to-next" }, TF.t("customer.to_next") + ": " + a.to_next.text));
    tierBox.append(dist);
  }

  const explainBox = TF.el("div", { class: "panel" });
  grid.append(explainBox);
  explainBox.append(TF.el("h2", {}, TF.t("customer.explanation")));
  if (c.explanation && c.explanation.error) {
    explainBox.append(TF.errorBox(c.explanation, "customer-explanation-error"));
  } else {
    const ol = TF.el("ul", { "data-testid": "customer-explanation" });
    for (const line of (c.explanation && c.explanation.lines) || []) ol.append(TF.el("li", { "data-testid": "customer-explanation-line" }, line));
    explainBox.append(ol);
  }

  const acc = part(main, "customer.account", "customer-account");
  if (c.account && c.account.error) {
    acc.append(TF.errorBox(c.account, "customer-account-error"));
  } else if (c.account) {
    const ag = c.account.ageing || {};
    const t = TF.el("table", {}, TF.el("tr", {}, TF.el("th", {}, TF.t("customer.receivable")),
      ...["current", "d1_30", "d31_60", "d61_90", "over_90"].map((k) => TF.el("th", { class: "n" }, TF.t("ageing." + k)))));
    t.append(TF.el("tr", {}, TF.numEl("td", "customer-receivable", TF.num(c.account.receivable_minor), TF.money(c.account.receivable_minor, cur)),
      ...[["current", ag.current_minor], ["1-30", ag.days_1_30_minor], ["31-60", ag.days_31_60_minor], ["61-90", ag.days_61_90_minor], ["over-90", ag.over_90_minor]]
        .map(([k, v]) => TF.numEl("td", "customer-ageing-" + k, TF.num(v), TF.money(v, cur)))));
    acc.append(t);
  }

  const hist = part(main, "customer.history", "customer-history");
  if (c.history && c.history.error) {
    hist.append(TF.errorBox(c.history, "customer-history-error"));
  } else {
    const ul = TF.el("ul", { class: "timeline" });
    for (const h of (c.history && c.history.changes) || []) {
      ul.append(TF.el("li", { "data-testid": "customer-history-item" }, TF.el("strong", {}, TF.date(h.assigned_time || h.evaluated_time)), " ",
        (h.previous_tier ? h.previous_tier + " → " : "") + h.tier, " ", TF.el("span", { class: "muted" }, (h.reasons || []).join("; "))));
    }
    hist.append(ul);
  }

  const occ = part(main, "customer.occasions", "customer-occasions");
  const ol = TF.el("ul", {});
  for (const o of c.occasions || []) ol.append(TF.el("li", { "data-testid": "customer-occasion" }, o.date + " " + o.name + " (" + o.days + ")"));
  if (!(c.occasions || []).length) ol.append(TF.el("li", { class: "muted" }, TF.t("customer.none")));
  occ.append(ol);

  const msgs = part(main, "customer.messages", "customer-messages");
  if (c.deliveries && c.deliveries.error) {
    msgs.append(TF.errorBox(c.deliveries, "customer-messages-error"));
  } else {
    const t = TF.el("table", {});
    for (const m of (c.deliveries && c.deliveries.deliveries) || []) {
      t.append(TF.el("tr", { "data-testid": "customer-message" }, TF.el("td", {}, TF.date(m.sent_time || m.due_time)), TF.el("td", {}, m.channel), TF.el("td", {}, m.status), TF.el("td", {}, m.subject)));
    }
    msgs.append(t);
  }

  const prof = part(main, "customer.profile", "customer-profile");
  if (c.profile && c.profile.error) {
    prof.append(TF.errorBox(c.profile, "customer-profile-error"));
  } else if (c.profile) {
    const p = c.profile;
    prof.append(TF.el("table", {},
      ...[["name", p.name], ["email", p.email], ["phone", p.phone], ["region", p.region], ["industry", p.industry], ["lifecycle", p.lifecycle]]
        .map(([k, v]) => TF.el("tr", {}, TF.el("td", {}, k), TF.el("td", { "data-testid": "customer-profile-" + k }, v || "")))));
  }

  if (session.role === "admin") overrideForm(main, c.customer_id);
}

function overrideForm(main, id) {
  const box = part(main, "customer.override", "override-panel");
  const kind = TF.el("select", { name: "kind", "data-testid": "override-kind" },
    TF.el("option", { value: "pin" }, TF.t("override.pin")), TF.el("option", { value: "floor" }, TF.t("override.floor")));
  const tier = TF.el("input", { name: "tier", required: "", "data-testid": "override-tier" });
  const reason = TF.el("input", { name: "reason", required: "", "data-testid": "override-reason" });
  const expires = TF.el("input", { type: "date", name: "expires", "data-testid": "override-expires" });
  const status = TF.el("div", { "data-testid": "override-status" });
  const form = TF.el("form", { class: "inline" },
    TF.el("label", {}, TF.t("override.kind"), kind), TF.el("label", {}, TF.t("override.tier"), tier),
    TF.el("label", {}, TF.t("override.reason"), reason), TF.el("label", {}, TF.t("override.expires"), expires),
    TF.el("button", { type: "submit", "data-testid": "override-set" }, TF.t("override.set")));
  const clear = TF.el("button", { type: "button", class: "secondary", "data-testid": "override-clear" }, TF.t("override.clear"));
  const done = (r) => {
    status.replaceChildren(r.ok ? TF.el("p", {}, TF.t("override.done")) : TF.errorBox(r.body, "override-error"));
    if (r.ok) setTimeout(() => location.reload(), 300);
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    done(await TF.api("/api/override", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ customer_id: id, kind: kind.value, tier: tier.value, reason: reason.value, expires: expires.value }) }));
  });
  clear.addEventListener("click", async () => {
    done(await TF.api("/api/override/clear", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ customer_id: id, reason: reason.value || "cleared from the console" }) }));
  });
  box.append(form, clear, status);
}
