// The overview page: headline figures, tiers, the Pareto curve with the 80/20 point and
// the A/B/C cuts, the four quadrants with their strategy, breakdowns by region, industry
// and lifecycle. Every figure is GetOverview's, as /api/overview returns it.
"use strict";
TF.page("overview", async (main) => {
  const r = await TF.api(TF.withAsOf("/api/overview"));
  main.append(TF.el("h1", {}, TF.t("overview.title")));
  if (!r.ok) {
    main.append(TF.errorBox(r.body, "overview-error"));
    return;
  }
  const o = r.body;
  const d = o.distribution || {};
  const cur = d.currency || "";
  main.append(TF.el("p", { class: "muted", "data-testid": "overview-as-of", dataset: { value: o.as_of || "" } },
    TF.t("asof") + " " + (TF.date(o.as_of) || TF.t("asof.now")) + " · " + TF.t("overview.clock") + " " + o.clock +
    (o.from_history ? " · " + TF.t("overview.history") : "") + " · " + (d.standard_version || "")));

  const reach80 = (d.reach || []).find((x) => Math.abs(x.value_share - 0.8) < 1e-9);
  const cards = TF.el("div", { class: "cards" });
  const card = (label, testid, value, text) =>
    TF.el("div", { class: "card" }, TF.el("div", { class: "label" }, label), TF.numEl("div", testid, value, text, "num"));
  cards.append(
    card(TF.t("overview.customers"), "overview-customers", TF.num(d.customers), TF.int(d.customers)),
    card(TF.t("overview.total_value"), "overview-total-value", TF.num(d.total_value_minor), TF.money(d.total_value_minor, cur)),
    card(TF.t("overview.reach80"), "reach-80-customers", reach80 ? TF.num(reach80.customers) : 0,
      reach80 ? TF.int(reach80.customers) + " (" + TF.pct(reach80.customer_share) + ")" : "-"),
    card(TF.t("overview.pending"), "pending-downgrades", TF.num(o.pending_downgrades), TF.int(o.pending_downgrades)),
    card(TF.t("overview.holds"), "credit-holds", TF.num(o.credit_holds), TF.int(o.credit_holds)),
    card(TF.t("overview.at_risk"), "at-risk", TF.num(o.at_risk), TF.int(o.at_risk)));
  main.append(cards);

  // Tiers and the Pareto curve side by side.
  const grid = TF.el("div", { class: "grid2" });
  const tiers = TF.el("table", { "data-testid": "tiers-table" },
    TF.el("tr", {}, TF.el("th", {}, TF.t("col.tier")), TF.el("th", { class: "n" }, TF.t("col.customers")),
      TF.el("th", { class: "n" }, TF.t("col.value")), TF.el("th", { class: "n" }, TF.t("col.share"))));
  for (const t of d.tiers || []) {
    tiers.append(TF.el("tr", { "data-testid": "tier-row-" + t.tier }, TF.el("td", {}, t.tier),
      TF.numEl("td", "tier-customers-" + t.tier, TF.num(t.customers), TF.int(t.customers)),
      TF.numEl("td", "tier-value-" + t.tier, TF.num(t.value_minor), TF.money(t.value_minor, cur)),
      TF.numEl("td", "tier-share-" + t.tier, t.value_share, TF.pct(t.value_share))));
  }
  grid.append(TF.el("div", { class: "panel" }, TF.el("h2", {}, TF.t("overview.tiers")), tiers));
  const canvas = TF.el("canvas", { "data-testid": "pareto-chart" });
  const cuts = TF.el("p", { class: "muted", "data-testid": "value-cuts" });
  for (const c of o.value_cuts || []) {
    cuts.append(TF.el("span", { class: "tag", "data-testid": "value-cut-" + c.class_name, dataset: { customers: String(TF.num(c.customers)), valueShare: String(c.value_share) } },
      c.class_name + ": " + TF.pct(c.customer_share) + " → " + TF.pct(c.value_share)));
  }
  grid.append(TF.el("div", { class: "panel" }, TF.el("h2", {}, TF.t("overview.pareto")), TF.el("div", { class: "chart" }, canvas), cuts));
  main.append(grid);
  drawPareto(canvas, o, reach80);

  // Quadrants: a 2 x 2 grid in the standard's order.
  main.append(TF.el("h2", {}, TF.t("overview.quadrants")));
  const quads = TF.el("div", { class: "quadrants", "data-testid": "quadrants" });
  for (const q of o.quadrants || []) {
    quads.append(TF.el("div", { class: "quadrant", "data-testid": "quadrant-" + q.name },
      TF.el("div", { class: "name" }, q.name + " (" + q.tenure + " × " + q.size + ")"),
      TF.el("div", {}, TF.numEl("span", "quadrant-customers-" + q.name, TF.num(q.customers), TF.int(q.customers) + " " + TF.t("col.customers")),
        " · ", TF.numEl("span", "quadrant-value-" + q.name, TF.num(q.value_minor), TF.money(q.value_minor, cur)),
        " (" + TF.pct(q.value_share) + ")"),
      TF.el("div", { class: "strategy", "data-testid": "quadrant-strategy-" + q.name }, q.strategy)));
  }
  main.append(quads);

  // Breakdowns: one table per dimension, a customers column per tier.
  main.append(TF.el("h2", {}, TF.t("overview.breakdowns")));
  const tierNames = (d.tiers || []).map((t) => t.tier);
  for (const b of o.breakdowns || []) {
    const head = TF.el("tr", {}, TF.el("th", {}, TF.t("dim." + b.dimension)), TF.el("th", { class: "n" }, TF.t("col.customers")),
      TF.el("th", { class: "n" }, TF.t("col.value")), TF.el("th", { class: "n" }, TF.t("col.share")));
    for (const t of tierNames) head.append(TF.el("th", { class: "n" }, t));
    const table = TF.el("table", { "data-testid": "breakdown-" + b.dimension }, head);
    for (const row of b.rows || []) {
      const key = row.key || "";
      const id = "breakdown-" + b.dimension + "-" + (key || "none");
      const tr = TF.el("tr", { "data-testid": id }, TF.el("td", {}, key || TF.t("none")),
        TF.numEl("td", id + "-customers", TF.num(row.customers), TF.int(row.customers)),
        TF.numEl("td", id + "-value", TF.num(row.value_minor), TF.money(row.value_minor, cur)),
        TF.numEl("td", id + "-share", row.value_share, TF.pct(row.value_share)));
      for (const t of row.tiers || []) tr.append(TF.numEl("td", id + "-tier-" + t.tier, TF.num(t.customers), TF.int(t.customers)));
      table.append(tr);
    }
    main.append(TF.el("div", { class: "panel" }, table));
  }
});

function drawPareto(canvas, o, reach80) {
  if (typeof Chart === "undefined") return;
  const d = o.distribution || {};
  const curve = [{ x: 0, y: 0 }].concat((d.curve || []).map((p) => ({ x: p.customer_share * 100, y: p.value_share * 100 })));
  const datasets = [{ label: TF.t("overview.pareto.curve"), data: curve, showLine: true, pointRadius: 0, borderColor: "#1f6feb", borderWidth: 2 }];
  if (reach80) {
    datasets.push({ label: TF.t("overview.pareto.point"), data: [{ x: reach80.customer_share * 100, y: 80 }], pointRadius: 6, backgroundColor: "#b42318", borderColor: "#b42318" });
  }
  const cuts = (o.value_cuts || []).slice(0, -1).map((c) => ({ x: c.customer_share * 100, y: c.value_share * 100, label: c.class_name }));
  if (cuts.length) {
    datasets.push({ label: "A/B/C " + TF.t("overview.cut"), data: cuts, pointRadius: 5, pointStyle: "rectRot", backgroundColor: "#9a6700", borderColor: "#9a6700" });
  }
  new Chart(canvas, {
    type: "scatter",
    data: { datasets },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: { x: { min: 0, max: 100, title: { display: true, text: TF.t("overview.pareto.x") + " %" } },
                y: { min: 0, max: 100, title: { display: true, text: TF.t("overview.pareto.curve") + " %" } } },
    },
  });
}
