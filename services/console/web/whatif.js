// What-if: a candidate standard (pasted or uploaded) against the customers held now: the
// validation error with its line and field, or the migration matrix (from tier x to tier)
// with sample customers per cell (WhatIf).
"use strict";
TF.page("whatif", async (main) => {
  main.append(TF.el("h1", {}, TF.t("whatif.title")), TF.el("p", { class: "muted" }, TF.t("whatif.help")));
  const text = TF.el("textarea", { "data-testid": "whatif-input", spellcheck: "false" });
  const file = TF.el("input", { type: "file", accept: ".yaml,.yml,text/yaml", "data-testid": "whatif-file" });
  file.addEventListener("change", async () => {
    if (file.files.length) text.value = await file.files[0].text();
  });
  const run = TF.el("button", { type: "button", "data-testid": "whatif-submit" }, TF.t("whatif.run"));
  const out = TF.el("div", { "data-testid": "whatif-result" });
  main.append(TF.el("p", {}, TF.el("label", {}, TF.t("whatif.file") + " ", file)), text, TF.el("p", {}, run), out);
  run.addEventListener("click", async () => {
    delete document.body.dataset.ready;
    out.replaceChildren();
    const r = await TF.api("/api/whatif", { method: "POST", headers: { "Content-Type": "application/yaml" }, body: text.value });
    if (r.status === 422) {
      for (const e of r.body.errors || []) {
        out.append(TF.el("div", { class: "error", "data-testid": "whatif-error", dataset: { line: String(e.line), field: e.field } },
          TF.t("whatif.line") + " " + e.line + (e.field ? " · " + TF.t("whatif.field") + " " + e.field : "") + ": " + e.message));
      }
    } else if (!r.ok) {
      out.append(TF.errorBox(r.body, "whatif-error"));
    } else {
      out.append(matrix(r.body));
    }
    document.body.dataset.ready = "1";
  });
});

function matrix(w) {
  const migrations = w.migrations || [];
  const from = [...new Set(migrations.map((m) => m.from_tier))];
  const to = [...new Set(migrations.map((m) => m.to_tier))];
  const box = TF.el("div", { class: "panel", "data-testid": "whatif-matrix" },
    TF.el("h2", {}, TF.t("whatif.matrix") + " · " + TF.t("whatif.candidate") + " " + w.candidate_version + " · " + TF.int(w.customers) + " " + TF.t("whatif.customers")));
  const head = TF.el("tr", {}, TF.el("th", {}, TF.t("col.from")));
  for (const t of to) head.append(TF.el("th", { class: "n" }, t));
  const table = TF.el("table", {}, head);
  for (const f of from) {
    const tr = TF.el("tr", {}, TF.el("th", {}, f));
    for (const t of to) {
      const m = migrations.find((x) => x.from_tier === f && x.to_tier === t);
      const td = TF.el("td", { class: "n", "data-testid": "whatif-cell-" + f + "-" + t, dataset: { value: String(m ? TF.num(m.customers) : 0) } }, m ? TF.int(m.customers) : "");
      if (m && (m.example_customer_ids || []).length) {
        const samples = TF.el("div", { class: "muted", "data-testid": "whatif-samples-" + f + "-" + t });
        for (const id of m.example_customer_ids) samples.append(TF.el("a", { href: "/customer?id=" + encodeURIComponent(id) }, id), " ");
        td.append(samples);
      }
      tr.append(td);
    }
    table.append(tr);
  }
  box.append(table);
  return box;
}
