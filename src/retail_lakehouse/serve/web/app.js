/* The dashboard: asks for an API key once (kept in sessionStorage, so it disappears with the
 * tab), then calls the same REST API as every other client and draws the answers.
 * Errors are shown in the page, never thrown into the console.
 */
(function () {
  "use strict";

  const STORAGE_KEY = "retail.apiKey";
  const COLORS = {
    revenue: "#1d4ed8", returns: "#e11d48", bar: "#0f766e", product: "#7c3aed",
    segment: "#d97706", quality: "#059669", weighted: "#7c3aed", highlight: "#1d4ed8",
  };
  const money = new Intl.NumberFormat("en-GB", {
    style: "currency", currency: "GBP", minimumFractionDigits: 2, maximumFractionDigits: 2,
  });
  const moneyCompact = new Intl.NumberFormat("en-GB", {
    style: "currency", currency: "GBP", notation: "compact", maximumFractionDigits: 1,
  });
  const integer = new Intl.NumberFormat("en-GB", { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat("en-GB", { style: "percent", maximumFractionDigits: 1 });
  const monthName = new Intl.DateTimeFormat("en-GB", { month: "short", year: "2-digit", timeZone: "UTC" });
  const dayName = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });

  const $ = (id) => document.getElementById(id);
  let countriesLoaded = false;

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function apiKey() {
    return sessionStorage.getItem(STORAGE_KEY);
  }

  async function api(path, params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== null && value !== undefined && value !== "") query.set(key, value);
    }
    const url = query.toString() ? `${path}?${query}` : path;
    const response = await fetch(url, { headers: { "X-API-Key": apiKey() || "" } });
    let body = null;
    try {
      body = await response.json();
    } catch (ignored) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && body.detail;
      const message = Array.isArray(detail) ? detail.map((d) => d.msg).join("; ") : detail;
      throw new ApiError(response.status, message || `HTTP ${response.status}`);
    }
    const snapshot = response.headers.get("X-Snapshot");
    if (snapshot) $("snapshot").textContent = `snapshot ${snapshot}`;
    return body;
  }

  // -- session ----------------------------------------------------------------------------
  function showLogin(message) {
    $("dashboard").hidden = true;
    $("who").hidden = true;
    $("signout").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("api-key").focus();
  }

  async function signIn(key) {
    sessionStorage.setItem(STORAGE_KEY, key);
    try {
      const me = await api("/api/v1/me");
      $("who").textContent = `${me.name} · ${me.role}`;
      $("who").hidden = false;
      $("signout").hidden = false;
      $("login").hidden = true;
      $("dashboard").hidden = false;
      await load();
    } catch (error) {
      sessionStorage.removeItem(STORAGE_KEY);
      showLogin(error.status === 401 ? "That key was not accepted." : error.message);
    }
  }

  function signOut() {
    sessionStorage.removeItem(STORAGE_KEY);
    $("api-key").value = "";
    showLogin();
  }

  // -- filters ----------------------------------------------------------------------------
  function filters() {
    return { from: $("from").value, to: $("to").value, country: $("country").value };
  }

  function singleMonth(f) {
    if (!f.from || !f.to) return null;
    return f.from.slice(0, 7) === f.to.slice(0, 7) ? f.from.slice(0, 7) : null;
  }

  function fillCountries(rows) {
    if (countriesLoaded) return;
    const select = $("country");
    rows.map((r) => r.country).sort().forEach((name) => {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.appendChild(option);
    });
    countriesLoaded = true;
  }

  // -- panels -----------------------------------------------------------------------------
  function showKpis(kpis) {
    document.querySelectorAll("#kpis .tile").forEach((tile) => {
      const value = kpis[tile.dataset.kpi];
      const out = tile.querySelector(".value");
      tile.dataset.value = value === null ? "" : String(value);
      if (value === null) out.textContent = "–";
      else out.textContent = tile.dataset.format === "money" ? money.format(value) : integer.format(value);
    });
  }

  const day = (s) => new Date(`${s}T00:00:00Z`);

  function showRevenue(page) {
    const rows = page.rows;
    Charts.line($("chart-revenue"), rows.map((r) => day(r.sale_date)), [
      { name: "Gross revenue", color: COLORS.revenue, values: rows.map((r) => r.gross_revenue) },
      { name: "Returns", color: COLORS.returns, values: rows.map((r) => r.returns_amount) },
    ], {
      label: "Daily gross revenue and returns",
      format: (v, exact) => (exact ? money.format(v) : moneyCompact.format(v)),
      xKey: (d) => d.toISOString().slice(0, 7),
      xLabel: (d) => monthName.format(d),
      tipLabel: (d) => dayName.format(d),
    });
  }

  function showCountries(rows, selected) {
    const top = rows.slice(0, 10).map((r) => ({
      label: r.country, value: r.gross_revenue, note: `${percent.format(r.revenue_share)} of revenue`,
      highlight: r.country === selected, color: r.country === selected ? COLORS.highlight : null,
    }));
    Charts.bars($("chart-countries"), top, {
      color: COLORS.bar, label: "Gross revenue by country",
      format: (v, exact) => (exact ? money.format(v) : moneyCompact.format(v)),
    });
  }

  function showProducts(top) {
    $("top-label").textContent = top.month ? `by revenue, ${top.month}` : "by revenue, all time";
    Charts.bars($("chart-products"), top.products.map((p) => ({
      label: p.description || p.stock_code, value: p.revenue,
      note: `${p.stock_code} · ${integer.format(p.units)} units`,
    })), {
      color: COLORS.product, labelWidth: 210, label: "Top products by revenue",
      format: (v, exact) => (exact ? money.format(v) : moneyCompact.format(v)),
    });
  }

  function showSegments(segments) {
    $("rfm-label").textContent = segments.as_of_date
      ? `RFM as of ${segments.as_of_date} · ${integer.format(segments.total_customers)} customers`
      : "RFM";
    Charts.bars($("chart-segments"), segments.segments.map((s) => ({
      label: s.segment, value: s.customers, note: `${percent.format(s.share)} of customers`,
    })), { color: COLORS.segment, label: "Customers per RFM segment", format: (v) => integer.format(v) });
  }

  function showQuality(trend) {
    const points = trend.points;
    const scores = points.map((p) => p.score);
    const weighted = points.map((p) => p.weighted_score);
    const now = trend.current;
    $("quality-now").textContent = now.score === null
      ? "no lines scored yet"
      : `lake now ${now.score.toFixed(1)} (${now.grade}) over ${integer.format(now.lines)} lines`;
    $("quality-now").dataset.score = now.score === null ? "" : String(now.score);
    const low = Math.max(0, Math.floor((Math.min(...scores, ...weighted, 100) - 2) / 5) * 5);
    const days = new Set(points.map((p) => p.computed_at.slice(0, 10)));
    const sameDay = days.size === 1;
    Charts.line($("chart-quality"), points.map((p) => new Date(p.computed_at)), [
      { name: "Score of the run", color: COLORS.quality, values: scores },
      { name: "Weighted by lines", color: COLORS.weighted, values: weighted, dash: "6 4", dots: false },
    ], {
      height: 220, yMin: low, yMax: 100, label: "Quality score per run",
      format: (v) => v.toFixed(v % 1 ? 1 : 0),
      xKey: (d) => (sameDay ? d.toISOString().slice(0, 16) : d.toISOString().slice(0, 10)),
      xLabel: (d) => (sameDay ? d.toISOString().slice(11, 16) : dayName.format(d).replace(/ \d{4}$/, "")),
      tipLabel: (d) => d.toISOString().replace("T", " ").slice(0, 16) + " UTC",
    });
  }

  async function panel(id, work) {
    try {
      await work();
    } catch (error) {
      if (error.status === 401) return signOut();
      Charts.empty($(id), `Could not load: ${error.message}`);
    }
  }

  async function load() {
    const f = filters();
    const period = { from: f.from, to: f.to, country: f.country };
    $("status").textContent = "Loading…";
    let failed = null;
    const kpis = api("/api/v1/kpis", period).then(showKpis).catch((error) => {
      failed = error;
    });
    await Promise.all([
      kpis,
      panel("chart-revenue", async () =>
        showRevenue(await api("/api/v1/sales/daily", Object.assign({ by: "total", page_size: 1000 }, period)))),
      panel("chart-countries", async () => {
        const rows = await api("/api/v1/sales/countries", { from: f.from, to: f.to });
        if (!f.from && !f.to) fillCountries(rows);
        showCountries(rows, f.country);
      }),
      panel("chart-products", async () =>
        showProducts(await api("/api/v1/products/top", { metric: "revenue", limit: 10, month: singleMonth(f) }))),
      panel("chart-segments", async () => showSegments(await api("/api/v1/customers/segments"))),
      panel("chart-quality", async () => showQuality(await api("/api/v1/quality/trend", { limit: 100 }))),
    ]);
    if (failed) {
      if (failed.status === 401) return signOut();
      $("status").textContent = failed.message;
      $("status").classList.add("error");
      return;
    }
    $("status").classList.remove("error");
    const range = f.from || f.to ? `${f.from || "start"} → ${f.to || "latest"}` : "all dates";
    $("status").textContent = `Showing ${range} · ${f.country || "all countries"}`;
    document.body.dataset.loaded = "true";
  }

  // -- wiring -----------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("api-key").value.trim();
      if (key) signIn(key);
    });
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      document.body.dataset.loaded = "false";
      load();
    });
    $("reset").addEventListener("click", () => {
      $("from").value = "";
      $("to").value = "";
      $("country").value = "";
      document.body.dataset.loaded = "false";
      load();
    });
    $("signout").addEventListener("click", signOut);
    let resizing = null;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(() => { if (apiKey() && !$("dashboard").hidden) load(); }, 250);
    });
    const key = apiKey();
    if (key) signIn(key);
    else showLogin();
  });
})();
