/* The follow-up page: a court's terminated (终本) inventory and its follow-up list.
 *
 * Reads /v1/stats/follow_up (and /v1/stats/labels for province names) with the key the user
 * gives, as the monitoring page does (key.js, which both pages share).
 */
"use strict";

(() => {
  const REFRESH_MS = 60_000;
  const COLORS = ["#1f4e79", "#8a9bb0", "#e0a526"];

  const TEXT = {
    zh: {
      title: "终本案件跟进名单", subtitle: "按每次跟进的预期回收金额排序的额外核查工作",
      back: "监控面板", forgetKey: "退出密钥", keyTitle: "请输入访问密钥",
      keyHelp: "数据仅在提供有效密钥后显示。密钥只保存在本浏览器标签页中，关闭即清除。",
      keyPlaceholder: "访问密钥", keyConnect: "连接", keyRejected: "密钥无效或已撤销，请重新输入。",
      province: "省份", court: "法院", all: "全部", budget: "跟进数量 K（占存量）",
      kpiInventory: "终本案件存量", kpiUnpaid: "未履行金额合计", kpiK: "跟进案件数 K",
      kpiModel: "按名单跟进前 K 件预期回收", kpiRandom: "随机跟进 K 件预期回收",
      kpiOldest: "最早终本的 K 件预期回收",
      chartTitle: "跟进 K 件的预期回收（元）", courtsTitle: "各法院终本案件存量",
      listTitle: "跟进名单（前 K 件）",
      colCourt: "法院", colCases: "案件数", colUnpaid: "未履行金额", colK: "K",
      colModelK: "前 K 件预期回收", colRank: "序号", colCase: "案号",
      colExpected: "每次跟进预期回收", colPResume: "回收概率", colAmount: "回收时预期金额",
      colMonths: "终本月数", colReasons: "主要原因",
      model: "按名单", random: "随机", oldest: "最早终本优先",
      noData: "尚无终本案件评分：通过 POST /follow_up 提交案件后显示。",
      notReady: "服务尚未就绪，稍后自动重试。", failed: "数据读取失败，稍后自动重试。",
      listCut: "仅显示前 {n} 件。", refreshed: "更新于",
    },
    en: {
      title: "Terminated cases · follow-up list",
      subtitle: "Extra follow-up work ordered by the yuan each follow-up is expected to bring",
      back: "Dashboard", forgetKey: "Forget key", keyTitle: "Enter an access key",
      keyHelp: "Data is shown only with a valid key. The key stays in this browser tab and is cleared when it closes.",
      keyPlaceholder: "Access key", keyConnect: "Connect", keyRejected: "The key is invalid or revoked; enter another.",
      province: "Province", court: "Court", all: "All", budget: "Follow-ups K (share of inventory)",
      kpiInventory: "Terminated inventory", kpiUnpaid: "Unpaid in all", kpiK: "Follow-ups K",
      kpiModel: "Expected yuan, list's top K", kpiRandom: "Expected yuan, K at random",
      kpiOldest: "Expected yuan, K oldest first",
      chartTitle: "Expected yuan of K follow-ups", courtsTitle: "Terminated inventory per court",
      listTitle: "Follow-up list (top K)",
      colCourt: "Court", colCases: "Cases", colUnpaid: "Unpaid", colK: "K",
      colModelK: "Expected yuan of top K", colRank: "Rank", colCase: "Case",
      colExpected: "Expected yuan per follow-up", colPResume: "P(recovery)",
      colAmount: "Yuan if recovered", colMonths: "Months terminated", colReasons: "Reasons",
      model: "The list", random: "Random", oldest: "Oldest first",
      noData: "No terminated case scored yet: send cases to POST /follow_up.",
      notReady: "The service is not ready yet; retrying shortly.", failed: "Reading the data failed; retrying shortly.",
      listCut: "Only the first {n} are shown.", refreshed: "Updated",
    },
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null,
    lang: TriageDashboard.savedLanguage(),
    share: 5,
    labels: null,
    data: null,
    chart: null,
    timer: null,
    loads: 0,
  };
  const t = (name) => TEXT[state.lang][name];

  /** Yuan as the page writes them: two decimals, thousands separated (¥1,234.50). */
  const yuan = (value) => `¥${value.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  const count = (value) => value.toLocaleString("en-US");

  // --- reading -------------------------------------------------------------------------------

  const { Unauthorized, Unavailable } = TriageDashboard;
  const page = TriageDashboard.keyedPage({ state, refresh, refreshMs: REFRESH_MS, applyLanguage });
  const get = (path, params) => page.getJSON(`/v1/stats/${path}`, params);

  async function refresh() {
    if (!state.key) return;
    document.body.dataset.state = "loading";
    try {
      if (!state.labels) state.labels = await get("labels");
      const selection = { province: $("f-province").value, court_id: $("f-court").value };
      const [data, all] = await Promise.all([
        get("follow_up", { ...selection, share: String(state.share) }),
        // The court list of the province (or the nation), whatever court is chosen.
        get("follow_up", { province: selection.province, share: String(state.share), limit: 1 }),
      ]);
      state.data = data;
      fillCourts(all.courts);
      $("banner").hidden = true;
      render();
      state.loads += 1;
      document.body.dataset.loads = String(state.loads);
      document.body.dataset.state = "ready";
      $("refreshed").textContent = `${t("refreshed")} ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (error instanceof Unauthorized) return page.showKeyPanel(t("keyRejected"));
      $("banner").textContent = error instanceof Unavailable ? t("notReady") : t("failed");
      $("banner").hidden = false;
      document.body.dataset.state = "error";
    }
  }

  // --- drawing -------------------------------------------------------------------------------

  function fillProvinces() {
    const select = $("f-province");
    const chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const p of state.labels.provinces) {
      select.add(new Option(`${p.code} ${state.lang === "en" ? p.en : p.zh}`, p.code));
    }
    select.value = chosen;
  }

  function fillCourts(courts) {
    const select = $("f-court");
    const chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    for (const court of [...courts].sort((a, b) => a.court_id.localeCompare(b.court_id))) {
      select.add(new Option(court.court_id, court.court_id));
    }
    select.value = courts.some((c) => c.court_id === chosen) ? chosen : "";
  }

  function cell(row, text, numeric) {
    const td = row.insertCell();
    td.textContent = text;
    if (numeric) td.className = "num";
    return td;
  }

  function render() {
    const data = state.data;
    if (!data) return;
    if (state.labels && $("f-province").options.length === 1) fillProvinces();
    $("notice").textContent = data.legal_inquiry[state.lang];
    const c = data.comparison;
    $("kpi-inventory").textContent = count(data.inventory.cases);
    $("kpi-unpaid").textContent = yuan(data.inventory.unpaid_total);
    $("kpi-k").textContent = count(data.k);
    $("kpi-model").textContent = yuan(c.model);
    $("kpi-random").textContent = yuan(c.random);
    $("kpi-oldest").textContent = yuan(c.oldest_first);
    for (const button of document.querySelectorAll("[data-share]")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.share) === state.share));
    }
    drawChart(c);

    const courts = $("fu-courts").tBodies[0];
    courts.replaceChildren();
    for (const court of data.courts) {
      const row = courts.insertRow();
      cell(row, court.court_id);
      cell(row, count(court.cases), true);
      cell(row, yuan(court.unpaid_total), true);
      cell(row, count(court.k), true);
      cell(row, yuan(court.model), true);
    }

    const list = $("fu-list").tBodies[0];
    list.replaceChildren();
    for (const item of data.follow_ups) {
      const row = list.insertRow();
      cell(row, String(item.rank), true);
      cell(row, item.case_id);
      cell(row, item.court_id);
      cell(row, yuan(item.expected_yuan), true);
      cell(row, `${(100 * item.p_resume).toFixed(1)}%`, true);
      cell(row, yuan(item.expected_amount), true);
      cell(row, yuan(item.unpaid_amount), true);
      cell(row, item.months_since_termination.toFixed(1), true);
      cell(row, state.lang === "en" ? item.reasons_en : item.reasons_zh);
    }
    const cut = data.follow_ups.length < data.k;
    $("list-note").textContent = cut ? t("listCut").replace("{n}", count(data.follow_ups.length)) : "";
    if (!data.inventory.cases) {
      $("banner").textContent = t("noData");
      $("banner").hidden = false;
    }
  }

  function drawChart(comparison) {
    const labels = [t("model"), t("random"), t("oldest")];
    const values = [comparison.model, comparison.random, comparison.oldest_first];
    if (state.chart) {
      state.chart.data.labels = labels;
      state.chart.data.datasets[0].data = values;
      state.chart.update("none");
      return;
    }
    state.chart = new Chart($("chart-follow-up"), {
      type: "bar",
      data: { labels, datasets: [{ data: values, backgroundColor: COLORS }] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true } },
      },
    });
  }

  function applyLanguage() {
    document.documentElement.lang = state.lang === "en" ? "en" : "zh-CN";
    document.title = t("title");
    for (const element of document.querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
    for (const element of document.querySelectorAll("[data-i18n-placeholder]")) {
      element.placeholder = t(element.dataset.i18nPlaceholder);
    }
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === state.lang));
    }
    if (state.labels) fillProvinces();
    render();
  }

  // --- start ---------------------------------------------------------------------------------

  function start() {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#3e4c59";
    page.start();
    for (const button of document.querySelectorAll("[data-share]")) {
      button.addEventListener("click", () => { state.share = Number(button.dataset.share); refresh(); });
    }
    $("f-province").addEventListener("change", () => { $("f-court").value = ""; refresh(); });
    $("f-court").addEventListener("change", refresh);
    page.connect();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
