/* The imgflow console: a page of plain JavaScript, no framework, no build
 * step. It signs in with an access key (POST /console/login: an HttpOnly
 * session cookie and a CSRF token kept in memory), calls the Step Functions
 * API through POST /console/api as that key (the key's policy decides), and
 * asks POST /console/graph to lay out an execution's graph (SVG by Graphviz
 * on the server, nodes with id "state-NAME" and class "state STATUS").
 * While an execution runs, it polls every POLL_MS. An execution with
 * distributed Maps shows each Map Run (ListMapRuns, DescribeMapRun): a
 * progress bar of its items (succeeded, failed, running, pending of the
 * total) and its failed items with their error and cause (POST
 * /console/map-run-failures, under the key's states:DescribeMapRun). */
'use strict';

const POLL_MS = 1500;
const MAX_MACHINES = 50;
let csrf = null;
let timer = null;
let current = null; /* the execution on view: {arn, definition, states, lastEvent} */
let liveUpdates = 0;

const $ = (sel) => document.querySelector(sel);

function text(el, s) { el.textContent = s == null ? '' : String(s); return el; }
function cell(tr, s, cls) { const td = tr.insertCell(); text(td, s); if (cls) td.className = cls; return td; }
function when(d) { return d ? new Date(typeof d === 'number' ? d * 1000 : d).toLocaleString() : ''; }
function pretty(s) { try { return JSON.stringify(JSON.parse(s), null, 2); } catch (e) { return s; } }

async function post(path, body, headers) {
  const h = Object.assign({ 'Content-Type': 'application/json' }, headers || {});
  if (csrf) h['X-CSRF-Token'] = csrf;
  const r = await fetch(path, { method: 'POST', headers: h, body: JSON.stringify(body), credentials: 'same-origin' });
  const out = await r.json().catch(() => ({}));
  if (!r.ok) {
    if (r.status === 401) showLogin();
    const err = new Error(out.message || out.Message || ('HTTP ' + r.status));
    err.type = out.__type; throw err;
  }
  return out;
}

function api(op, body) {
  return post('/console/api', body || {}, {
    'X-Amz-Target': 'AWSStepFunctions.' + op, 'Content-Type': 'application/x-amz-json-1.0' });
}

function show(id) {
  for (const s of ['login', 'list', 'execution']) $('#' + s).hidden = s !== id;
}

function showLogin() {
  csrf = null; stopPolling(); show('login'); $('#logout').hidden = true; text($('#who'), '');
}

function signedIn(s) {
  csrf = s.csrfToken; text($('#who'), 'signed in as ' + s.user); $('#logout').hidden = false; route();
}

function stopPolling() { if (timer) clearTimeout(timer); timer = null; }

/* ---- the lists ---- */

async function loadList() {
  show('list'); stopPolling();
  const f = $('#filters');
  try {
    const machines = (await api('ListStateMachines', { maxResults: 1000 })).stateMachines || [];
    const tb = $('#machines tbody'); tb.replaceChildren();
    const sel = f.machine, keep = sel.value;
    sel.replaceChildren(new Option('all', ''));
    for (const m of machines) {
      const tr = tb.insertRow();
      const a = document.createElement('a'); a.href = '#/'; text(a, m.name);
      a.addEventListener('click', (e) => { e.preventDefault(); sel.value = m.stateMachineArn; loadExecutions(); });
      tr.insertCell().append(a); cell(tr, when(m.creationDate));
      const o = new Option(m.name, m.stateMachineArn);
      o.dataset.type = m.type || 'STANDARD';
      sel.add(o);
    }
    sel.value = keep;
    await loadExecutions();
  } catch (e) { text($('#counts'), e.message).className = 'error'; }
}

async function loadExecutions() {
  const f = $('#filters');
  /* ListExecutions takes one state machine (as in Step Functions): "all" is
   * one call per machine, of the first MAX_MACHINES; EXPRESS machines keep
   * no executions to list (StateMachineTypeNotSupported) */
  const arns = f.machine.value ? [f.machine.value]
    : [...f.machine.options].filter((o) => o.value && o.dataset.type !== 'EXPRESS')
      .map((o) => o.value).slice(0, MAX_MACHINES);
  let list = [];
  for (const arn of arns) {
    const req = { stateMachineArn: arn, maxResults: 1000 };
    if (f.status.value) req.statusFilter = f.status.value;
    list = list.concat((await api('ListExecutions', req)).executions || []);
  }
  list.sort((a, b) => (b.startDate > a.startDate) - (b.startDate < a.startDate));
  const since = Number(f.since.value);
  if (since) list = list.filter((x) => new Date(x.startDate * 1000 || x.startDate) >= Date.now() - since * 1000);
  const counts = {};
  for (const x of list) counts[x.status] = (counts[x.status] || 0) + 1;
  const c = $('#counts'); c.className = ''; c.replaceChildren();
  const total = document.createElement('span'); text(total, list.length + ' executions'); c.append(total);
  for (const k of Object.keys(counts).sort()) {
    const s = document.createElement('span'); s.className = 'status ' + k; s.dataset.status = k;
    text(s, k + ': ' + counts[k]); c.append(s);
  }
  const tb = $('#executions tbody'); tb.replaceChildren();
  for (const x of list) {
    const tr = tb.insertRow(); tr.dataset.status = x.status;
    const a = document.createElement('a'); a.href = '#/execution/' + encodeURIComponent(x.executionArn); text(a, x.name);
    tr.insertCell().append(a);
    cell(tr, x.stateMachineArn.split(':').pop());
    cell(tr, x.status, 'status ' + x.status);
    cell(tr, when(x.startDate)); cell(tr, when(x.stopDate));
  }
  stopPolling(); timer = setTimeout(() => loadExecutions().catch(() => {}), 3 * POLL_MS);
}

/* ---- one execution ---- */

async function allEvents(arn) {
  let events = [], token;
  do {
    const page = await api('GetExecutionHistory', token ? { executionArn: arn, maxResults: 1000, nextToken: token }
                                                          : { executionArn: arn, maxResults: 1000 });
    events = events.concat(page.events || []); token = page.nextToken;
  } while (token && events.length < 100000);
  return events;
}

function stateOf(e) {
  const d = e.stateEnteredEventDetails || e.stateExitedEventDetails;
  return d ? d.name : '';
}

function detailsOf(e) {
  for (const k of Object.keys(e)) if (k.endsWith('EventDetails')) return JSON.stringify(e[k]);
  return '';
}

function selectState(name) {
  if (!current) return;
  for (const g of document.querySelectorAll('#graph g.state.selected')) g.classList.remove('selected');
  const node = document.getElementById('state-' + name);
  if (node) node.classList.add('selected');
  const s = (current.states || {})[name], d = $('#detail');
  d.replaceChildren();
  const h = document.createElement('h2'); text(h, name); d.append(h);
  if (!s) return;
  d.dataset.state = name; d.dataset.status = s.status;
  const p = document.createElement('p');
  text(p, s.type + ': ' + s.status + ', entered ' + s.entered + ' time(s), ' + s.retries + ' retr' + (s.retries === 1 ? 'y' : 'ies'));
  d.append(p);
  const images = imagesIn(s.output).slice(0, 4);
  if (images.length) {
    const box = document.createElement('div'); box.className = 'thumbs';
    for (const im of images) {
      const img = document.createElement('img');
      img.alt = im.bucket + '/' + im.key; img.title = img.alt; img.className = 'thumb';
      img.src = '/console/thumbnail?bucket=' + encodeURIComponent(im.bucket) + '&key=' + encodeURIComponent(im.key);
      box.append(img);
    }
    d.append(box);
  }
  for (const k of ['error', 'cause', 'input', 'output']) {
    if (s[k] == null) continue;
    const t = document.createElement('h3'); text(t, k); d.append(t);
    const pre = document.createElement('pre'); pre.className = k; text(pre, k === 'input' || k === 'output' ? pretty(s[k]) : s[k]); d.append(pre);
  }
}

/* The images a state's output names: {"bucket", "key"} objects whose key
 * looks like an image, anywhere in it (the built-in operations' outputs). */
function imagesIn(text) {
  const out = [], seen = new Set();
  let v; try { v = JSON.parse(text); } catch (e) { return out; }
  (function walk(x, depth) {
    if (!x || typeof x !== 'object' || depth > 20 || out.length >= 16) return;
    if (typeof x.bucket === 'string' && typeof x.key === 'string' && /\.(jpe?g|png|webp|gif|tiff?|heic|avif)$/i.test(x.key)) {
      const id = x.bucket + '/' + x.key;
      if (!seen.has(id)) { seen.add(id); out.push({ bucket: x.bucket, key: x.key }); }
    }
    for (const k of Object.keys(x)) walk(x[k], depth + 1);
  })(v, 0);
  return out;
}

function drawGraph(svgText) {
  const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
  const svg = doc.documentElement;
  if (svg.nodeName !== 'svg') return;
  const g = $('#graph'); g.replaceChildren(document.importNode(svg, true));
  for (const node of g.querySelectorAll('g.state')) {
    node.addEventListener('click', () => selectState(node.id.slice(6)));
  }
}

async function refreshExecution(arn, first) {
  const d = await api('DescribeExecution', { executionArn: arn });
  if (first) {
    const sm = await api('DescribeStateMachineForExecution', { executionArn: arn });
    current = { arn, definition: sm.definition, states: null, key: '' };
  }
  if (!current || current.arn !== arn) return;
  text($('#exec-name'), d.name);
  const st = $('#exec-status'); text(st, d.status); st.className = 'status ' + d.status; document.body.dataset.execStatus = d.status;
  text($('#exec-times'), 'started ' + when(d.startDate) + (d.stopDate ? ', stopped ' + when(d.stopDate) : ''));
  $('#stop').hidden = d.status !== 'RUNNING';
  $('#redrive').hidden = !['FAILED', 'TIMED_OUT', 'ABORTED'].includes(d.status);

  const events = await allEvents(arn);
  const key = d.status + ':' + events.length;
  if (key !== current.key) {
    const g = await post('/console/graph', { definition: current.definition, events });
    current.states = g.states; current.key = key;
    drawGraph(g.svg);
    const tb = $('#history tbody'); tb.replaceChildren();
    for (const e of events) {
      const tr = tb.insertRow(); tr.dataset.type = e.type;
      cell(tr, e.id); cell(tr, e.type); cell(tr, stateOf(e)); cell(tr, when(e.timestamp)); cell(tr, detailsOf(e), 'details');
    }
    if (!first) { liveUpdates++; document.body.dataset.liveUpdates = String(liveUpdates); }
    if ($('#detail').dataset.state) selectState($('#detail').dataset.state);
  }
  if (events.some((e) => e.type === 'MapRunStarted')) await loadMapRuns(arn);
  else { $('#mapruns').hidden = true; $('#mapruns-list').replaceChildren(); }
  stopPolling();
  if (d.status === 'RUNNING' || d.status === 'PENDING_REDRIVE')
    timer = setTimeout(() => refreshExecution(arn, false).catch(showError), POLL_MS);
}

/* The Map Runs of the execution on view, when its history started any. */
async function loadMapRuns(arn) {
  const box = $('#mapruns'), list = $('#mapruns-list');
  const runs = (await api('ListMapRuns', { executionArn: arn, maxResults: 100 })).mapRuns || [];
  if (!current || current.arn !== arn) return;
  box.hidden = runs.length === 0;
  const divs = [];
  for (const r of runs) {
    const d = await api('DescribeMapRun', { mapRunArn: r.mapRunArn });
    const c = d.itemCounts || {}, total = c.total || 0;
    const div = document.createElement('div'); div.className = 'maprun';
    div.dataset.mapRunArn = d.mapRunArn; div.dataset.status = d.status;
    const h = document.createElement('h3'); text(h, d.mapRunArn.split(':').slice(-2).join(':')); div.append(h);
    const p = document.createElement('p');
    const st = document.createElement('span'); st.className = 'status ' + d.status; text(st, d.status); p.append(st);
    p.append(' ' + when(d.startDate) + (d.stopDate ? ' \u2013 ' + when(d.stopDate) : '') +
             ', max concurrency ' + (d.maxConcurrency || 'unlimited') + ', ' +
             (d.executionCounts ? d.executionCounts.total : 0) + ' child executions');
    div.append(p);
    const bar = document.createElement('div'); bar.className = 'bar';
    const legend = document.createElement('p'); legend.className = 'legend';
    for (const k of ['succeeded', 'failed', 'running', 'pending']) {
      const n = c[k] || 0, seg = document.createElement('span');
      seg.className = k; seg.dataset.count = String(n);
      seg.style.width = (total ? (100 * n / total) : 0) + '%'; seg.title = k + ': ' + n;
      bar.append(seg);
      const l = document.createElement('span'); l.className = 'count ' + k; l.dataset.count = String(n);
      text(l, k + ' ' + n); legend.append(l);
    }
    const t = document.createElement('span'); t.className = 'count total'; t.dataset.count = String(total);
    text(t, 'of ' + total + ' items'); legend.append(t);
    div.append(bar, legend);
    if (c.failed > 0) {
      const f = (await post('/console/map-run-failures', { mapRunArn: d.mapRunArn })).failures || [];
      const h4 = document.createElement('h4'); text(h4, 'Failed items'); div.append(h4);
      const table = document.createElement('table'); table.className = 'failures';
      const head = table.createTHead().insertRow();
      for (const k of ['Item', 'Error', 'Cause', 'Input', 'Time']) { const th = document.createElement('th'); text(th, k); head.append(th); }
      const tb = table.createTBody();
      for (const x of f) {
        const tr = tb.insertRow(); tr.dataset.index = String(x.index);
        cell(tr, x.items > 1 ? x.index + ' (' + x.items + ' items)' : x.index);
        cell(tr, x.error, 'error'); cell(tr, x.cause, 'cause');
        cell(tr, x.input === undefined ? '' : JSON.stringify(x.input), 'details'); cell(tr, when(x.date));
      }
      div.append(table);
    }
    divs.push(div);
  }
  if (!current || current.arn !== arn) return;
  list.replaceChildren(...divs);
}

function showError(e) { text($('#action-error'), e.message); }

async function loadExecution(arn) {
  show('execution'); stopPolling(); text($('#action-error'), '');
  $('#graph').replaceChildren(); $('#detail').replaceChildren(); delete $('#detail').dataset.state;
  try { await refreshExecution(arn, true); } catch (e) { showError(e); }
}

async function action(fn) {
  text($('#action-error'), '');
  try { await fn(); if (current) setTimeout(() => refreshExecution(current.arn, false).catch(showError), 300); }
  catch (e) { showError(e); }
}

function route() {
  const h = decodeURIComponent(location.hash || '#/');
  if (!csrf) return;
  if (h.startsWith('#/execution/')) loadExecution(h.slice(12));
  else loadList();
}

document.addEventListener('DOMContentLoaded', async () => {
  $('#login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = e.target;
    try { signedIn(await post('/console/login', { accessKeyId: f.accessKeyId.value, secretAccessKey: f.secretAccessKey.value })); }
    catch (err) { text($('#login-error'), err.message); }
  });
  $('#logout').addEventListener('click', async () => { await post('/console/logout', {}).catch(() => {}); showLogin(); });
  $('#filters').addEventListener('change', () => loadExecutions().catch((e) => text($('#counts'), e.message)));
  $('#stop').addEventListener('click', () => action(() => api('StopExecution', { executionArn: current.arn, error: 'Console.Stopped', cause: 'Stopped from the console' })));
  $('#redrive').addEventListener('click', () => action(() => api('RedriveExecution', { executionArn: current.arn })));
  $('#callback-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.target, how = e.submitter ? e.submitter.value : 'success';
    action(() => how === 'success'
      ? api('SendTaskSuccess', { taskToken: f.taskToken.value, output: f.output.value || '{}' })
      : api('SendTaskFailure', { taskToken: f.taskToken.value, error: f.error.value || undefined, cause: f.cause.value || undefined }));
  });
  window.addEventListener('hashchange', route);
  try {
    const r = await fetch('/console/session', { credentials: 'same-origin' });
    if (r.ok) signedIn(await r.json()); else showLogin();
  } catch (e) { showLogin(); }
});
