/* The triage dashboard: reads /v1/stats/... with the key the user gives, every 30 s.
 *
 * The key (from the form or the URL fragment, kept in this tab only, sent as a Bearer token)
 * and the language are handled by key.js, which the follow-up page shares.
 * Labels of codes (provinces, streams) come from /v1/stats/labels, those of reasons and
 * features with the data: only the page's own words are here.
 */
"use strict";

(() => {
  const REFRESH_MS = 30_000;
  const STREAMS = ["simple", "complex", "review"];
  const COLORS = { simple: "#2f8f5b", complex: "#c0392b", review: "#e0a526" };
  const STATE_COLORS = { ok: "#2f8f5b", warn: "#e0a526", alert: "#c0392b" };

  const TEXT = {
    zh: {
      title: "执行案件繁简分流 · 监控面板", subtitle: "分流结果、风险与模型状况",
      forgetKey: "退出密钥", followUpLink: "终本跟进名单", keyTitle: "请输入访问密钥",
      keyHelp: "数据仅在提供有效密钥后显示。密钥只保存在本浏览器标签页中，关闭即清除。",
      keyPlaceholder: "访问密钥", keyConnect: "连接", keyRejected: "密钥无效或已撤销，请重新输入。",
      province: "省份", court: "法院", since: "起始日期", until: "截止日期", all: "全部",
      reset: "重置", utcNote: "日期按协调世界时（UTC）· 每 30 秒自动刷新",
      kpiDecisions: "决定总数",
      kpiAssets: "平均有财产概率", kpiComplexP: "平均繁案概率",
      dailyTitle: "每日分流", courtsTitle: "各法院分流（案件最多的 15 家）",
      pComplexTitle: "繁案概率分布（按分流）", pAssetsTitle: "有可执行财产概率分布（按分流）",
      reasonsComplexTitle: "繁简判断的主要原因", reasonsAssetsTitle: "财产判断的主要原因",
      casesTitle: "风险最高的在办案件", rankAssets: "有财产概率最低", rankComplex: "繁案概率最高",
      colCase: "案号", colCourt: "法院", colDecided: "决定时间", colStream: "分流",
      colPComplex: "繁案概率", colPAssets: "有财产概率", colReasons: "主要原因",
      modelsTitle: "在用模型版本", challengerTitle: "挑战者模型（影子运行）与冠军的一致性",
      colModel: "模型", colVersion: "版本", colSince: "启用于", colLast: "最近决定",
      colDecisions: "决定数", colVersions: "冠军 → 挑战者", colShadowed: "影子决定数",
      colSame: "分流一致率", colDelta: "平均 |Δp|",
      driftTitle: "数据漂移（PSI，按特征）", stream: "繁简分流模型", assets: "财产模型",
      decisions: "决定数", cases: "案件数", share: "占比", noData: "所选范围内没有决定",
      noChallenger: "当前没有影子运行的挑战者模型", refreshed: "更新于",
      reasonsNote: (n) => `统计最近 ${n} 个决定`,
      othersNote: (n, total) => `另有 ${n} 家法院，共 ${total} 个决定`,
      driftNote: (n, first, last, at) =>
        `最近 ${n} 个决定（${first} 至 ${last}）与训练数据相比；计算于 ${at}；注意 ≥ 0.1，警报 ≥ 0.25`,
      driftNone: "无法计算漂移：", ok: "正常", warn: "注意", alert: "警报",
      notReady: "服务尚未就绪，稍后自动重试。", failed: "读取数据失败，稍后自动重试。",
      psi: "PSI",
      whatifTitle: "复核能力假设分析", whatifCapacity: "复核能力（占新收案件比例）",
      whatifReview: "预计复核比例", whatifCs: "繁案误入简案", whatifSc: "简案误入繁案",
      whatifCost: "每案预期代价（工作日）", whatifThresholds: "阈值（繁案概率）",
      whatifPolicy: (label, court) => `${court ? `法院 ${court}` : "全国"} · 适用政策 ${label}`,
      whatifNote: (current, model) =>
        `按现行政策复核上限 ${current}；预测基于模型 ${model} 的验证数据`,
      whatifNone: "无法预测：", gaveWay: "无法同时满足：", days: "天",
      seriesReview: "复核比例", seriesCs: "繁案误入简案率", seriesSc: "简案误入繁案率",
      seriesCost: "每案预期代价（天）", axisCapacity: "复核能力", axisCost: "天/案",
      mixTitle: "各法院实际分流与政策预测", colPolicy: "适用政策",
      mixCell: (actual, predicted) => `${actual}（预测 ${predicted}）`,
      mixNote: "实际：所选范围内的决定；预测：该法院现行政策在当前模型验证数据上的比例。偏差超过 5 个百分点且超出抽样误差（2 个标准误）者标红。",
      builtIn: "全国默认（内置）", national: "全国",
    },
    en: {
      title: "Enforcement case triage · Dashboard", subtitle: "Routing, risk and models",
      forgetKey: "Forget key", followUpLink: "Terminated cases follow-up", keyTitle: "Enter an access key",
      keyHelp: "Data is shown only with a valid key. The key is kept in this browser tab only and cleared when it closes.",
      keyPlaceholder: "Access key", keyConnect: "Connect", keyRejected: "The key is invalid or revoked; enter another.",
      province: "Province", court: "Court", since: "From", until: "To", all: "All",
      reset: "Reset", utcNote: "Days in UTC · refreshes every 30 s",
      kpiDecisions: "Decisions",
      kpiAssets: "Mean p(assets)", kpiComplexP: "Mean p(complex)",
      dailyTitle: "Stream mix per day", courtsTitle: "Stream mix by court (15 busiest)",
      pComplexTitle: "Distribution of p(complex), by stream",
      pAssetsTitle: "Distribution of p(assets), by stream",
      reasonsComplexTitle: "Most frequent reasons: complexity",
      reasonsAssetsTitle: "Most frequent reasons: assets",
      casesTitle: "Highest-risk open cases", rankAssets: "Lowest p(assets)", rankComplex: "Highest p(complex)",
      colCase: "Case", colCourt: "Court", colDecided: "Decided", colStream: "Stream",
      colPComplex: "p(complex)", colPAssets: "p(assets)", colReasons: "Main reasons",
      modelsTitle: "Model versions in use", challengerTitle: "Shadow challenger vs champion",
      colModel: "Model", colVersion: "Version", colSince: "In use since", colLast: "Last decision",
      colDecisions: "Decisions", colVersions: "Champion → challenger", colShadowed: "Shadowed",
      colSame: "Same stream", colDelta: "Mean |Δp|",
      driftTitle: "Drift (PSI per feature)", stream: "stream model", assets: "assets model",
      decisions: "decisions", cases: "cases", share: "share", noData: "No decisions in the selection",
      noChallenger: "No challenger is shadowing the champions", refreshed: "Updated",
      reasonsNote: (n) => `Among the latest ${n} decisions`,
      othersNote: (n, total) => `${n} more courts, ${total} decisions`,
      driftNote: (n, first, last, at) =>
        `Latest ${n} decisions (${first} to ${last}) against the training data; computed ${at}; warn ≥ 0.1, alert ≥ 0.25`,
      driftNone: "No drift report: ", ok: "ok", warn: "warn", alert: "alert",
      notReady: "The service is not ready yet; retrying.", failed: "Could not read the data; retrying.",
      psi: "PSI",
      whatifTitle: "What if: review capacity", whatifCapacity: "Review capacity (share of new cases)",
      whatifReview: "Predicted review share", whatifCs: "Complex routed simple", whatifSc: "Simple routed complex",
      whatifCost: "Expected cost per case (days)", whatifThresholds: "Thresholds (p complex)",
      whatifPolicy: (label, court) => `${court ? `Court ${court}` : "National"} · policy ${label}`,
      whatifNote: (current, model) =>
        `The policy in force allows ${current} review; predicted on the validation cases of ${model}`,
      whatifNone: "No prediction: ", gaveWay: "Cannot all hold: ", days: "days",
      seriesReview: "Review share", seriesCs: "Complex → simple", seriesSc: "Simple → complex",
      seriesCost: "Expected cost (days/case)", axisCapacity: "Review capacity", axisCost: "days/case",
      mixTitle: "Stream mix by court against its policy", colPolicy: "Policy in force",
      mixCell: (actual, predicted) => `${actual} (predicted ${predicted})`,
      mixNote: "Actual: decisions in the selection; predicted: the court's policy in force on the current model's validation cases. Red: more than 5 points off and beyond sampling error (2 standard errors).",
      builtIn: "national (built-in default)", national: "national",
    },
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    lang: TriageDashboard.savedLanguage(),
    labels: null,
    data: null,
    rankBy: "p_assets",
    capacity: null, // the what-if's capacity in points (null: the policy's own)
    charts: {},
    timer: null,
    loads: 0,
  };
  const t = (name) => TEXT[state.lang][name];

  // --- reading the data ----------------------------------------------------------------------

  const { Unauthorized, Unavailable } = TriageDashboard;
  const page = TriageDashboard.keyedPage({ state, refresh, refreshMs: REFRESH_MS, applyLanguage });
  const get = (path, params) => page.getJSON(`/v1/stats/${path}`, params);
  const getPolicy = (path, params) => page.getJSON(`/v1/policy/${path}`, params);

  function filters() {
    return {
      province: $("f-province").value,
      court_id: $("f-court").value,
      since: $("f-since").value,
      until: $("f-until").value,
    };
  }

  async function refresh() {
    if (!state.key) return;
    const f = filters();
    document.body.dataset.state = "loading";
    try {
      if (!state.labels) state.labels = await get("labels");
      const [summary, daily, courts, probabilities, reasons, cases, models, drift, courtList,
        policyMix, tradeoff] =
        await Promise.all([
          get("summary", f), get("streams/daily", f), get("streams/courts", { ...f, limit: 15 }),
          get("probabilities", f), get("reasons", { ...f, limit: 10 }),
          get("cases", { ...f, rank_by: state.rankBy, limit: 12 }), get("models", f),
          get("drift", f),
          get("streams/courts", { province: f.province, since: f.since, until: f.until, limit: 5000 }),
          get("streams/policy", { ...f, limit: 15 }),
          getPolicy("tradeoff", { court: f.court_id }),
        ]);
      state.data = {
        summary, daily, courts, probabilities, reasons, cases, models, drift, courtList, policyMix, tradeoff,
      };
      $("banner").hidden = true;
      render();
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
      document.body.dataset.state = "ready";
      $("refreshed").textContent = `${t("refreshed")} ${clock(new Date())}`;
    } catch (error) {
      if (error instanceof Unauthorized) return page.showKeyPanel(t("keyRejected"));
      $("banner").textContent = error instanceof Unavailable ? t("notReady") : t("failed");
      $("banner").hidden = false;
      document.body.dataset.state = "error";
    }
  }

  // The ranking of the risk table changes one query: reload only that one.
  async function rerank() {
    if (!state.key || !state.data) return refresh();
    try {
      state.data.cases = await get("cases", { ...filters(), rank_by: state.rankBy, limit: 12 });
      renderCases();
    } catch (error) {
      if (error instanceof Unauthorized) return page.showKeyPanel(t("keyRejected"));
      $("banner").textContent = error instanceof Unavailable ? t("notReady") : t("failed");
      $("banner").hidden = false;
    }
  }

  // --- formatting ----------------------------------------------------------------------------

  const locale = () => (state.lang === "zh" ? "zh-CN" : "en-GB");
  const count = (n) => (n == null ? "–" : new Intl.NumberFormat(locale()).format(n));
  const percent = (x) => (x == null ? "–" : `${(100 * x).toFixed(1)}%`);
  const prob = (x) => (x == null ? "–" : x.toFixed(3));
  const pad = (n) => String(n).padStart(2, "0");
  const clock = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  const label = (item) => (item ? item[state.lang] || item.code : "");
  const streamLabel = (code) => label(state.labels.streams.find((s) => s.code === code)) || code;
  const provinceLabel = (code) => label(state.labels.provinces.find((p) => p.code === code)) || code;

  function element(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children) node.append(child);
    return node;
  }

  // --- charts --------------------------------------------------------------------------------

  function chart(id, type, data, options) {
    const existing = state.charts[id];
    if (existing) {
      existing.data = data;
      existing.options = options;
      existing.update("none");
      return existing;
    }
    state.charts[id] = new Chart($(id), { type, data, options });
    return state.charts[id];
  }

  function baseOptions(extra) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      ...extra,
    };
  }

  const streamSets = (rows) => STREAMS.map((stream) => ({
    label: streamLabel(stream),
    data: rows.map((row) => row[stream]),
    backgroundColor: COLORS[stream],
    stack: "streams",
    maxBarThickness: 56,
  }));

  function renderDaily() {
    const days = state.data.daily.days;
    chart("chart-daily", "bar", { labels: days.map((d) => d.day), datasets: streamSets(days) },
      baseOptions({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }));
  }

  function renderCourts() {
    const { courts, others } = state.data.courts;
    const names = courts.map((c) => `${c.court_id} ${provinceLabel(c.province)}`);
    chart("chart-courts", "bar", { labels: names, datasets: streamSets(courts) },
      baseOptions({ indexAxis: "y",
        scales: { x: { stacked: true }, y: { stacked: true, ticks: { autoSkip: false } } } }));
    // The long tail is a number, not a bar that would flatten the others.
    $("courts-note").textContent = others.courts ? t("othersNote")(count(others.courts), count(others.total)) : "";
  }

  function renderHistogram(id, name) {
    const { edges, [name]: bins } = state.data.probabilities;
    const labels = edges.slice(0, -1).map((lo) => lo.toFixed(2));
    chart(id, "bar", { labels, datasets: streamSets(labels.map((_, i) => ({
      simple: bins.simple[i], complex: bins.complex[i], review: bins.review[i],
    }))) }, baseOptions({
      scales: { x: { stacked: true, ticks: { maxRotation: 0, autoSkip: true } },
        y: { stacked: true, beginAtZero: true } },
      datasets: { bar: { barPercentage: 1, categoryPercentage: 0.96 } },
    }));
  }

  function renderReasons(id, kind, color) {
    const rows = state.data.reasons[kind];
    chart(id, "bar", {
      labels: rows.map((r) => label(r)),
      datasets: [{ label: t("decisions"), data: rows.map((r) => r.count), backgroundColor: color }],
    }, baseOptions({
      indexAxis: "y",
      plugins: {
        legend: { display: false },
        tooltip: { callbacks: { footer: (items) => `${rows[items[0].dataIndex].code} · ${percent(rows[items[0].dataIndex].share)}` } },
      },
      scales: { x: { beginAtZero: true }, y: { ticks: { autoSkip: false, font: { size: 11.5 } } } },
    }));
  }

  // Draws the warn and alert thresholds across the drift chart.
  const thresholdLines = {
    id: "thresholds",
    afterDatasetsDraw(c, _args, options) {
      const { ctx, chartArea, scales } = c;
      for (const [value, color] of options.lines || []) {
        const x = scales.x.getPixelForValue(value);
        if (x < chartArea.left || x > chartArea.right) continue;
        ctx.save();
        ctx.strokeStyle = color;
        ctx.setLineDash([5, 4]);
        ctx.beginPath();
        ctx.moveTo(x, chartArea.top);
        ctx.lineTo(x, chartArea.bottom);
        ctx.stroke();
        ctx.restore();
      }
    },
  };

  function renderDrift() {
    const drift = state.data.drift;
    const counts = $("drift-counts");
    counts.replaceChildren();
    $("drift-chart").hidden = !drift.available;
    if (!drift.available) {
      $("drift-note").textContent = `${t("driftNone")}${drift.reason}`;
      return;
    }
    for (const name of ["alert", "warn", "ok"]) {
      counts.append(element("span", { className: `badge ${name}`, textContent: `${t(name)} ${drift.counts[name] || 0}` }));
    }
    const items = [...drift.scores, ...drift.features].sort((a, b) => b.psi - a.psi).slice(0, 20);
    const { warn, alert } = drift.thresholds;
    chart("chart-drift", "bar", {
      labels: items.map((i) => label(i)),
      datasets: [{
        label: t("psi"),
        data: items.map((i) => i.psi),
        backgroundColor: items.map((i) => STATE_COLORS[i.state]),
      }],
    }, baseOptions({
      indexAxis: "y",
      plugins: {
        legend: { display: false },
        thresholds: { lines: [[warn, STATE_COLORS.warn], [alert, STATE_COLORS.alert]] },
        tooltip: { callbacks: { footer: (its) => `${items[its[0].dataIndex].name} · ${t(items[its[0].dataIndex].state)}` } },
      },
      // The alert line stays in sight, so that small values read as small.
      scales: { x: { beginAtZero: true, suggestedMax: alert * 1.2 },
        y: { ticks: { autoSkip: false, font: { size: 11.5 } } } },
    }));
    $("drift-note").textContent = t("driftNote")(
      count(drift.n_cases), when(drift.window.first), when(drift.window.last), when(drift.generated_at));
  }

  // --- court policies: the what-if and the mix against the policy ------------------------------

  // The curve's point at the chosen capacity (points: 0 … 50), or the policy's own capacity.
  function whatIfPoint() {
    const { curve, current } = state.data.tradeoff;
    if (state.capacity == null) state.capacity = Math.min(50, Math.round(100 * current.max_review));
    return curve.find((point) => Math.round(100 * point.capacity) === state.capacity) || curve[curve.length - 1];
  }

  // `court:440305 v3`; the national scope and the built-in default in the page's language.
  function policyLabel(policyId, version) {
    if (version === 0) return t("builtIn");
    return `${policyId === "national" ? t("national") : policyId} v${version}`;
  }

  // Off the policy: more than 5 points, and more than sampling error on this many decisions.
  function offPolicy(actual, predicted, total) {
    if (actual == null || predicted == null || !total) return false;
    const noise = 2 * Math.sqrt((predicted * (1 - predicted)) / total);
    return Math.abs(actual - predicted) > Math.max(0.05, noise);
  }

  function renderWhatIf() {
    const tradeoff = state.data.tradeoff;
    $("w-policy").textContent = t("whatifPolicy")(
      policyLabel(tradeoff.policy.policy_id, tradeoff.policy.version), tradeoff.court);
    for (const id of ["w-capacity", "w-capacity-number"]) $(id).disabled = !tradeoff.available;
    if (!tradeoff.available) {
      for (const id of ["w-review", "w-cs", "w-sc", "w-cost", "w-thresholds"]) $(id).textContent = "–";
      $("w-gave-way").textContent = "";
      $("w-note").textContent = `${t("whatifNone")}${tradeoff.reason}`;
      $("whatif").dataset.capacity = "";
      return;
    }
    const point = whatIfPoint();
    $("w-capacity").value = String(state.capacity);
    $("w-capacity-number").value = String(state.capacity);
    $("w-review").textContent = percent(point.share_review);
    $("w-cs").textContent = percent(point.complex_to_simple);
    $("w-sc").textContent = percent(point.simple_to_complex);
    $("w-cost").textContent = point.expected_cost_days.toFixed(3);
    $("w-thresholds").textContent = `< ${prob(point.simple_below)} · ≥ ${prob(Math.min(point.complex_from, 1))}`;
    $("w-gave-way").textContent = point.gave_way.length ? `${t("gaveWay")}${point.gave_way.join("；")}` : "";
    $("w-note").textContent = t("whatifNote")(
      percent(tradeoff.current.max_review), `${tradeoff.model.name} v${tradeoff.model.version}`);
    $("whatif").dataset.capacity = String(state.capacity);
    const curve = tradeoff.curve;
    const line = (name, key, color, axis) => ({
      label: t(name), data: curve.map((p) => (axis === "cost" ? p[key] : 100 * p[key])),
      borderColor: color, backgroundColor: color, yAxisID: axis, pointRadius: 0, borderWidth: 2, tension: 0,
    });
    chart("chart-tradeoff", "line", {
      labels: curve.map((p) => Math.round(100 * p.capacity)),
      datasets: [
        line("seriesReview", "share_review", COLORS.review, "share"),
        line("seriesCs", "complex_to_simple", COLORS.complex, "share"),
        line("seriesSc", "simple_to_complex", COLORS.simple, "share"),
        { ...line("seriesCost", "expected_cost_days", "#1b3a5c", "cost"), borderDash: [6, 4] },
      ],
    }, baseOptions({
      interaction: { mode: "index", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { boxWidth: 12 } },
        // The chosen capacity, across the curve (a category axis: its index is its value).
        thresholds: { lines: [[curve.indexOf(point), "#3e4c59"]] },
      },
      scales: {
        x: { title: { display: true, text: `${t("axisCapacity")} (%)` }, ticks: { maxRotation: 0, autoSkip: true } },
        share: { position: "left", beginAtZero: true, title: { display: true, text: "%" } },
        cost: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
          title: { display: true, text: t("axisCost") } },
      },
    }));
  }

  function chooseCapacity(value) {
    if (value === "") return; // a number field being retyped
    const points = Math.max(0, Math.min(50, Math.round(Number(value))));
    if (!Number.isFinite(points) || !state.data || !state.data.tradeoff.available) return;
    state.capacity = points;
    renderWhatIf();
  }

  function renderPolicyMix() {
    const mix = state.data.policyMix;
    for (const node of document.querySelectorAll("[data-stream-head]")) {
      node.textContent = streamLabel(node.dataset.streamHead);
    }
    const rows = mix.courts.map((c) => element("tr", {},
      element("td", { textContent: `${c.court_id} ${provinceLabel(c.province)}` }),
      element("td", { textContent: policyLabel(c.policy_id, c.policy_version), title: c.gave_way.join("\n") }),
      element("td", { className: "num", textContent: count(c.total) }),
      ...STREAMS.map((stream) => {
        const actual = c.actual[stream];
        const predicted = c.predicted ? c.predicted[stream] : null;
        const off = offPolicy(actual, predicted, c.total);
        return element("td", {
          className: `num${off ? " off" : ""}`,
          textContent: t("mixCell")(percent(actual), percent(predicted)),
        });
      })));
    $("policy-mix").tBodies[0].replaceChildren(...(rows.length ? rows : [emptyRow(6, t("noData"))]));
    $("mix-note").textContent = mix.available ? t("mixNote") : `${t("whatifNone")}${mix.reason}`;
  }

  // --- tables and figures --------------------------------------------------------------------

  function renderKpis() {
    const s = state.data.summary;
    $("kpi-decisions").textContent = count(s.decisions);
    $("kpi-period").textContent = s.first ? `${s.first.slice(0, 10)} – ${s.last.slice(0, 10)}` : t("noData");
    for (const node of document.querySelectorAll("[data-stream]")) {
      node.textContent = streamLabel(node.dataset.stream);
    }
    for (const stream of STREAMS) {
      $(`kpi-${stream}`).textContent = percent(s.shares[stream]);
      $(`kpi-${stream}-n`).textContent = `${count(s.streams[stream])} ${t("decisions")}`;
    }
    $("kpi-p-assets").textContent = prob(s.mean_p_assets);
    $("kpi-p-complex").textContent = prob(s.mean_p_complex);
  }

  function renderCases() {
    const body = $("cases").tBodies[0];
    const kind = state.rankBy === "p_assets" ? "assets" : "complex";
    const rows = state.data.cases.cases.map((c) => element("tr", {},
      element("td", { className: "mono", textContent: c.case_id }),
      element("td", { textContent: `${c.court_id} ${provinceLabel(c.province)}` }),
      element("td", { textContent: when(c.decided_at) }),
      element("td", {}, element("span", { className: `badge ${c.stream}`, textContent: streamLabel(c.stream) })),
      element("td", { className: `num${kind === "complex" ? " risk" : ""}`, textContent: prob(c.p_complex) }),
      element("td", { className: `num${kind === "assets" ? " risk" : ""}`, textContent: prob(c.p_assets) }),
      element("td", {}, element("ul", { className: "reasons" }, ...c.reasons[kind].map((r) =>
        element("li", {},
          // ▲ raises the probability, ▼ lowers it; red where that adds to the risk ranked by.
          element("span", {
            className: (kind === "complex") === (r.effect > 0) ? "up" : "down",
            textContent: r.effect > 0 ? "▲ " : "▼ ",
          }),
          label(r)))))));
    body.replaceChildren(...(rows.length ? rows : [emptyRow(7, t("noData"))]));
    for (const button of document.querySelectorAll("[data-rank]")) {
      button.setAttribute("aria-pressed", String(button.dataset.rank === state.rankBy));
    }
  }

  const emptyRow = (span, text) => element("tr", {}, element("td", { colSpan: span, className: "empty", textContent: text }));

  function renderModels() {
    const { versions, challengers } = state.data.models;
    $("models").tBodies[0].replaceChildren(...(versions.length ? versions.map((v) => element("tr", {},
      element("td", { textContent: `${t(v.kind)} · ${v.name}` }),
      element("td", { textContent: `v${v.version}` }),
      element("td", { textContent: when(v.first) }),
      element("td", { textContent: when(v.last) }),
      element("td", { className: "num", textContent: count(v.decisions) }))) : [emptyRow(5, t("noData"))]));
    $("challengers").tBodies[0].replaceChildren(...(challengers.length ? challengers.map((c) => element("tr", {},
      element("td", { textContent: t(c.kind) }),
      element("td", { textContent: `v${c.champion_version} → v${c.challenger_version}` }),
      element("td", { className: "num", textContent: count(c.decisions) }),
      element("td", { className: "num", textContent: percent(c.same_stream_share) }),
      element("td", { className: "num", textContent: prob(c.mean_abs_delta_p) }))) : [emptyRow(5, t("noChallenger"))]));
  }

  function renderFilterOptions() {
    const province = $("f-province");
    const chosenProvince = province.value;
    province.replaceChildren(element("option", { value: "", textContent: t("all") }),
      ...state.labels.provinces.map((p) => element("option", { value: p.code, textContent: `${p.code} ${label(p)}` })));
    province.value = chosenProvince;
    const court = $("f-court");
    const chosenCourt = court.value;
    const courts = state.data ? state.data.courtList.courts : [];
    court.replaceChildren(element("option", { value: "", textContent: t("all") }),
      ...courts.map((c) => element("option", {
        value: c.court_id, textContent: `${c.court_id} ${provinceLabel(c.province)} (${count(c.total)})`,
      })));
    if (chosenCourt && !courts.some((c) => c.court_id === chosenCourt)) {
      court.append(element("option", { value: chosenCourt, textContent: chosenCourt }));
    }
    court.value = chosenCourt;
  }

  function render() {
    if (!state.data) return;
    renderFilterOptions();
    renderKpis();
    renderDaily();
    renderCourts();
    renderHistogram("chart-p-complex", "p_complex");
    renderHistogram("chart-p-assets", "p_assets");
    renderReasons("chart-reasons-complex", "complex", "#1b3a5c");
    renderReasons("chart-reasons-assets", "assets", "#4f7cac");
    $("reasons-note").textContent = t("reasonsNote")(count(state.data.reasons.decisions_counted));
    renderCases();
    renderModels();
    renderDrift();
    renderWhatIf();
    renderPolicyMix();
  }

  // --- language ------------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll("[data-i18n-placeholder]")) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    if (state.labels) render();
  }

  // --- start ---------------------------------------------------------------------------------

  function start() {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#3e4c59";
    Chart.register(thresholdLines);
    page.start();
    for (const button of document.querySelectorAll("[data-rank]")) {
      button.addEventListener("click", () => { state.rankBy = button.dataset.rank; rerank(); });
    }
    for (const id of ["f-province", "f-court", "f-since", "f-until"]) {
      $(id).addEventListener("change", () => {
        if (id === "f-province") $("f-court").value = "";
        // Another court, another policy: the what-if starts from that policy's own capacity.
        if (id === "f-province" || id === "f-court") state.capacity = null;
        refresh();
      });
    }
    for (const id of ["w-capacity", "w-capacity-number"]) {
      $(id).addEventListener("input", () => chooseCapacity($(id).value));
    }
    $("f-reset").addEventListener("click", () => {
      for (const id of ["f-province", "f-court", "f-since", "f-until"]) $(id).value = "";
      state.capacity = null;
      refresh();
    });
    page.connect();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
