// The watch list: customers whose downgrade is pending, on credit hold, or turning at
// risk, with the reason (ListWatch), as of the page's date; exportable as CSV.
"use strict";
TF.page("watch", async (main) => {
  main.append(TF.el("h1", {}, TF.t("watch.title")));
  main.append(TF.el("p", {}, TF.el("a", { href: TF.withAsOf("/api/watchlist.csv"), download: "", "data-testid": "watch-csv" }, TF.t("watch.csv"))));
  const r = await TF.api(TF.withAsOf("/api/watchlist"));
  if (!r.ok) {
    main.append(TF.errorBox(r.body, "watch-error"));
    return;
  }
  const entries = r.body.entries || [];
  main.append(TF.el("p", {}, TF.numEl("span", "watch-count", entries.length, TF.int(entries.length), ""), " " + TF.t("watch.count")));
  if (r.body.truncated) main.append(TF.el("p", { class: "muted" }, TF.t("watch.truncated")));
  const table = TF.el("table", { "data-testid": "watch-table" }, TF.el("tr", {}, TF.el("th", {}, TF.t("col.customer")),
    TF.el("th", {}, TF.t("col.tier")), TF.el("th", {}, TF.t("col.kinds")), TF.el("th", {}, TF.t("col.reasons"))));
  for (const e of entries) {
    const a = e.assignment || {};
    table.append(TF.el("tr", { "data-testid": "watch-row-" + a.customer_id, dataset: { kinds: (e.kinds || []).join(" ") } },
      TF.el("td", {}, TF.el("a", { href: TF.withAsOf("/customer?id=" + encodeURIComponent(a.customer_id)) }, a.customer_id)),
      TF.el("td", {}, a.tier),
      TF.el("td", {}, ...(e.kinds || []).map((k) => TF.el("span", { class: "tag" }, TF.t("watch." + k)))),
      TF.el("td", {}, (e.reasons || []).join("; "))));
  }
  main.append(table);
});
