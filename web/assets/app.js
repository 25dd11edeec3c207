/* bandgate's dashboard: one file, no framework, no build step (the LAN may have no internet, and the page is
 * embedded in the daemon). The WebSocket /ws drives the page: its first message is a snapshot that replaces
 * everything, later ones change one band, one notification or the health. The JSON API under /api/v1 fills
 * what the socket does not carry (timelines, charts, notifications) and takes the actions.
 *
 * Rules the page keeps: text from the gateway goes in only through textContent (a band name or a notification
 * cannot inject markup); nothing inline, since the server's Content-Security-Policy forbids it; every POST
 * carries the CSRF token of the session; any 401 brings back the login form. */
"use strict";

const API = "/api/v1";
const TIMELINE_GAP_MS = 2000;      /* the timeline is refetched at most this often */
const PRESS_SHOWN_MS = 5000;       /* how long "Button pressed at …" stays on a card */
const BACKOFF_MIN_MS = 1000, BACKOFF_MAX_MS = 10000;
const SCAN_POLL_MS = 2000, SCAN_POLL_FOR_MS = 12000; /* the gateway scans for 10 s; poll a little longer */
const NOTIFY_MAX_BYTES = 1024;
const SESSION_ENDED = "Your session has ended (it timed out, or the gateway restarted): log in again.";
const HOUR_S = 3600;

const app = {
	csrf: null,
	started: false,        /* the dashboard is shown and the socket wanted */
	session: null,         /* AbortController of the shown dashboard's requests; stopDashboard aborts them */
	bands: new Map(),      /* band id → the card's record (see newCard) */
	health: null,
	healthAt: 0,           /* Date.now() when health arrived, so the uptime keeps counting */
	ws: null,
	backoff: BACKOFF_MIN_MS,
	reconnectTimer: 0,
	scanRows: new Map(),   /* address → scan result row */
	scanning: false,
};

/* ---- small helpers ---- */

const byId = (id) => document.getElementById(id);

/* A part of a cloned template, by its test hook or, where tests need none, by data-part. */
function part(root, name) {
	return root.querySelector(`[data-testid="${name}"], [data-part="${name}"]`);
}

function clone(templateId) {
	return byId(templateId).content.firstElementChild.cloneNode(true);
}

function svg(tag, attrs = {}, text = null) {
	const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
	for (const [k, v] of Object.entries(attrs))
		el.setAttribute(k, String(v));
	if (text !== null)
		el.textContent = text;
	return el;
}

const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const fmtInt = (n) => Math.round(n).toLocaleString();

function fmtDistance(m) {
	return m >= 1000 ? `${(m / 1000).toFixed(2)} km` : `${fmtInt(m)} m`;
}

function fmtBytes(b) {
	if (b >= 1024 * 1024)
		return `${(b / (1024 * 1024)).toFixed(1)} MB`;
	return `${Math.max(1, Math.round(b / 1024))} KB`;
}

function fmtDuration(s) {
	s = Math.max(0, Math.floor(s));
	const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
	if (d > 0)
		return `${d} d ${h} h`;
	if (h > 0)
		return `${h} h ${m} min`;
	if (m > 0)
		return `${m} min ${s % 60} s`;
	return `${s} s`;
}

/* A time the gateway sends: ISO 8601 with an offset, as GLib writes it. Its offset may be "+02" (GLib leaves
 * out zero minutes) or "+0200", which Date.parse does not read: it wants "+02:00". NaN for anything else. */
function parseTime(iso) {
	if (typeof iso !== "string")
		return NaN;
	return Date.parse(iso.replace(/(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2}):?(\d{2})?$/,
		(m, time, hours, minutes) => `${time}${hours}:${minutes || "00"}`));
}

/* "5 min ago". A gateway clock slightly ahead of the browser's would give a negative age: that is "just now"
 * too. */
function fmtAgo(iso) {
	const s = Math.round((Date.now() - parseTime(iso)) / 1000);
	if (!Number.isFinite(s))
		return "—";
	if (s < 10)
		return "just now";
	if (s < 60)
		return `${s} s ago`;
	if (s < 3600)
		return `${Math.floor(s / 60)} min ago`;
	if (s < 48 * 3600)
		return `${Math.floor(s / 3600)} h ago`;
	return `${Math.floor(s / 86400)} d ago`;
}

function fmtClock(iso) {
	const d = new Date(parseTime(iso));
	return Number.isNaN(d.getTime()) ? "—" : d.toLocaleTimeString();
}

/* A clock time for today, a date and a time otherwise. */
function fmtWhen(iso) {
	const d = new Date(parseTime(iso));
	if (Number.isNaN(d.getTime()))
		return "—";
	if (d.toDateString() === new Date().toDateString())
		return d.toLocaleTimeString();
	return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function setText(el, text) {
	if (el.textContent !== text)
		el.textContent = text;
}

/* ---- the API ---- */

/* One request. Never throws: a gateway that does not answer is status 0 with a sentence in error; a request
 * aborted through signal is status 0 with aborted set and no error, since nobody waits for its answer. */
async function request(method, path, body, signal) {
	const opts = { method, credentials: "same-origin", headers: {}, signal };
	if (method !== "GET") {
		if (app.csrf && path !== "/login")
			opts.headers["X-CSRF-Token"] = app.csrf;
		opts.headers["Content-Type"] = "application/json";
		opts.body = JSON.stringify(body ?? {});
	}
	let res;
	try {
		res = await fetch(API + path, opts);
	} catch {
		if (signal?.aborted)
			return { status: 0, ok: false, aborted: true, data: null, error: null, headers: new Headers() };
		return { status: 0, ok: false, data: null, error: "The gateway did not answer.", headers: new Headers() };
	}
	let data = null;
	try {
		data = await res.json();
	} catch {
		/* an empty or non-JSON answer: status alone tells */
	}
	let error = data && typeof data.error === "string" ? data.error : null;
	if (!res.ok && !error)
		error = `The gateway answered ${res.status} ${res.statusText}`.trim() + ".";
	return { status: res.status, ok: res.ok, data, error, headers: res.headers };
}

/* The session's token, from GET /api/v1/session; true when a different one came back (worth a retry). */
async function refreshCsrf() {
	const r = await request("GET", "/session");
	if (!r.ok || !r.data || typeof r.data.csrf !== "string" || r.data.csrf === app.csrf)
		return false;
	app.csrf = r.data.csrf;
	return true;
}

/* A request of the logged-in page: a 403 (say, a token rotated by a login elsewhere) is retried once with a
 * fresh token, and a 401 means the session is gone, so the login form comes back. It belongs to the dashboard
 * shown when it starts: stopDashboard aborts it, so none outlives a logout to meet the ended session. */
async function call(method, path, body) {
	const signal = app.session?.signal;
	let r = await request(method, path, body, signal);
	if (r.status === 403 && method !== "GET" && await refreshCsrf())
		r = await request(method, path, body, signal);
	if (r.status === 401)
		showLogin(SESSION_ENDED);
	return r;
}

const bandPath = (b, rest) => `/bands/${encodeURIComponent(b.id)}${rest}`;

/* ---- login and the page's two faces ---- */

/* note: why the form is back, when it is not the person's own doing (a session that timed out, or ended with a
 * restart of the gateway, which keeps sessions in memory only). */
function showLogin(note = "") {
	const was = app.started;
	stopDashboard();
	if (was) /* the first of several requests that found the session gone says why */
		setText(byId("login-note"), note);
	byId("loading").hidden = true;
	byId("login").hidden = false;
	byId("password").focus();
}

function showDashboard() {
	byId("loading").hidden = true;
	byId("login").hidden = true;
	byId("dashboard").hidden = false;
	byId("logout").hidden = false;
	if (app.started)
		return;
	app.started = true;
	app.session = new AbortController();
	app.backoff = BACKOFF_MIN_MS;
	wsConnect();
	loadHealth();
}

/* Everything a session showed goes: cards, their timers, the socket, the scan. */
function stopDashboard() {
	app.started = false;
	app.session?.abort();
	app.session = null;
	clearTimeout(app.reconnectTimer);
	if (app.ws) {
		const ws = app.ws;
		app.ws = null;
		ws.close();
	}
	for (const id of [...app.bands.keys()])
		removeBand(id);
	app.scanRows.clear();
	byId("scan-results").replaceChildren();
	setText(byId("scan-status"), "");
	byId("dashboard").hidden = true;
	byId("logout").hidden = true;
	byId("health").hidden = true;
	setOffline(false);
}

async function onLogin(event) {
	event.preventDefault();
	const form = byId("login"), input = byId("password"), err = byId("login-error");
	const button = form.querySelector("button[type=submit]");
	setText(err, "");
	button.disabled = true;
	const r = await request("POST", "/login", { password: input.value });
	button.disabled = false;
	if (r.ok) {
		input.value = "";
		setText(byId("login-note"), "");
		app.csrf = r.data && typeof r.data.csrf === "string" ? r.data.csrf : null;
		if (!app.csrf)
			await refreshCsrf();
		showDashboard();
	} else if (r.status === 429) {
		const wait = parseInt(r.headers.get("Retry-After") || "", 10);
		setText(err, Number.isFinite(wait) ? `Too many attempts; try again in ${wait} s` :
			"Too many attempts; try again later");
	} else {
		setText(err, r.status === 401 ? (r.error || "wrong password") : r.error);
		input.select();
	}
}

/* The dashboard stops first: a request of its still in flight would otherwise reach the gateway after the
 * logout, come back 401 and, if it came back first, tell the person their session had ended. */
async function onLogout() {
	stopDashboard();
	await call("POST", "/logout", {});
	app.csrf = null;
	showLogin();
}

async function boot() {
	byId("login").addEventListener("submit", onLogin);
	byId("logout").addEventListener("click", onLogout);
	byId("scan").addEventListener("click", startScan);
	window.addEventListener("resize", onResize);
	setInterval(tick, 1000);
	await checkSession();
}

/* Which face to show. A gateway that does not answer at all is asked again in a while. */
async function checkSession() {
	const r = await request("GET", "/session");
	if (r.ok && r.data && typeof r.data.csrf === "string") {
		app.csrf = r.data.csrf;
		showDashboard();
	} else if (r.status === 401) {
		showLogin();
	} else {
		setOffline(true);
		setTimeout(checkSession, BACKOFF_MAX_MS);
	}
}

/* ---- the live socket ---- */

/* While the gateway does not answer, the banner says so and what the page shows is greyed: it is as old as the
 * banner. */
function setOffline(offline) {
	byId("offline").hidden = !offline;
	document.body.classList.toggle("is-offline", offline);
}

function wsConnect() {
	clearTimeout(app.reconnectTimer);
	const url = (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/ws";
	let ws;
	try {
		ws = new WebSocket(url);
	} catch {
		wsClosed();
		return;
	}
	app.ws = ws;
	ws.addEventListener("message", (e) => {
		if (ws === app.ws)
			onMessage(e.data);
	});
	ws.addEventListener("close", () => {
		if (ws === app.ws)
			wsClosed();
	});
}

/* The socket closed: say so, and come back with backoff, unless the session is what ended (the browser does
 * not tell why an upgrade was refused, so the session is asked). */
async function wsClosed() {
	app.ws = null;
	if (!app.started)
		return;
	setOffline(true);
	const r = await request("GET", "/session");
	if (!app.started)
		return;
	if (r.status === 401) {
		showLogin(SESSION_ENDED);
		return;
	}
	if (r.ok && r.data && typeof r.data.csrf === "string")
		app.csrf = r.data.csrf;
	const delay = app.backoff;
	app.backoff = Math.min(app.backoff * 2, BACKOFF_MAX_MS);
	app.reconnectTimer = setTimeout(wsConnect, delay);
}

function onMessage(text) {
	let m;
	try {
		m = JSON.parse(text);
	} catch {
		return; /* not ours to crash on */
	}
	if (!m || typeof m !== "object")
		return;
	const b = typeof m.id === "string" ? app.bands.get(m.id) : undefined;
	switch (m.type) {
	case "snapshot":
		onSnapshot(m);
		break;
	case "band":
		if (m.band && typeof m.band.id === "string")
			renderBand(m.band);
		break;
	case "band-removed":
		removeBand(m.id);
		break;
	case "button":
		if (b)
			buttonPressed(b, m.time);
		break;
	case "notification":
		if (b && m.notification)
			upsertNotification(b, m.notification);
		break;
	case "health":
		renderHealth(m.health);
		break;
	}
}

/* The first message after a connect replaces everything. Cards that survive a reconnect refetch what the
 * socket may have carried while it was down. */
function onSnapshot(m) {
	const views = Array.isArray(m.bands) ? m.bands.filter((v) => v && typeof v.id === "string") : [];
	const ids = new Set(views.map((v) => v.id));
	for (const id of [...app.bands.keys()])
		if (!ids.has(id))
			removeBand(id);
	for (const v of views) {
		const known = app.bands.get(v.id);
		renderBand(v);
		if (known) {
			scheduleTimeline(known);
			loadNotifications(known);
			loadChart(known);
		}
	}
	if (m.health)
		renderHealth(m.health);
	app.backoff = BACKOFF_MIN_MS;
	setOffline(false);
	updateEmpty();
}

/* ---- a band's card ---- */

const FAULTS = {
	band: "The band: it is not advertising or refuses the key",
	link: "The link: the band is there but the Bluetooth connection fails or keeps dropping",
	adapter: "The Bluetooth adapter: it stopped answering or is being reset by the gateway",
};

/* A badge's colour: green when ready, amber while waiting for something, red on a fault. */
function stateTone(v) {
	if (v.state === "ready")
		return "ok";
	if (v.state === "auth-rejected" || v.fault)
		return "bad";
	if (["awaiting-tap", "connecting", "resolving", "authenticating", "resetting"].includes(v.state))
		return "wait";
	return "idle";
}

function newCard(view) {
	const root = clone("band-template");
	root.dataset.bandId = view.id;
	const b = {
		id: view.id, root, view: null,
		range: "today", points: [], chartSeq: 0,
		presses: 0, pressTimer: 0,
		tlLast: 0, tlTimer: 0, tlSeq: 0,
		notes: new Map(), notesSeq: 0,
		el: {},
	};
	for (const name of ["title", "state", "advice-text", "tap-countdown", "description", "fault", "button-press",
		"steps", "distance", "calories", "battery", "heart-rate", "last-sync", "rssi", "firmware", "sync",
		"button-count", "chart", "chart-summary", "action-error", "action-status", "action-forget",
		"factory-confirm", "action-factory-reset", "notify-form", "notify-text", "notify-send", "notify-error",
		"notifications", "find", "timeline"])
		b.el[name] = part(root, name);
	b.el.forgetBox = part(root, "forget-box");
	b.el.forgetYes = root.querySelector('[data-testid="forget-confirm"]');
	b.el.state.setAttribute("aria-live", "polite");
	b.el["advice-text"].setAttribute("aria-live", "polite");
	b.el["tap-countdown"].setAttribute("role", "timer");
	wireCard(b);
	insertCard(root);
	app.bands.set(b.id, b);
	return b;
}

/* Cards stay in the order of their addresses, so they do not jump around as views arrive. */
function insertCard(root) {
	const list = byId("bands");
	const next = [...list.children].find((c) => c.dataset.bandId > root.dataset.bandId);
	list.insertBefore(root, next || null);
}

function wireCard(b) {
	for (const button of b.root.querySelectorAll("button[data-action]"))
		button.addEventListener("click", () => act(b, button.dataset.action, {}, button));
	for (const button of b.root.querySelectorAll("button[data-range]"))
		button.addEventListener("click", () => setRange(b, button.dataset.range));
	b.el["action-forget"].addEventListener("click", () => {
		b.el.forgetBox.hidden = false;
		b.el.forgetYes.focus();
	});
	b.root.querySelector('[data-testid="forget-cancel"]').addEventListener("click", () => {
		b.el.forgetBox.hidden = true;
		b.el["action-forget"].focus();
	});
	b.el.forgetYes.addEventListener("click", () => act(b, "forget", {}, b.el.forgetYes));
	b.el["factory-confirm"].addEventListener("input", () => updateFactory(b));
	b.el["action-factory-reset"].addEventListener("click",
		() => act(b, "factory-reset", { confirm: true }, b.el["action-factory-reset"]));
	b.el["notify-form"].addEventListener("submit", (e) => sendNotification(b, e));
	b.el.find.addEventListener("click", () => sendAlert(b, "find", {}, b.el.find));
}

/* Factory reset is enabled only once its field holds the band's address (any case, colons or not) or RESET. */
function factoryConfirmed(b) {
	const typed = b.el["factory-confirm"].value.trim();
	return typed === "RESET" || typed.replace(/[:-]/g, "").toLowerCase() === b.id.toLowerCase();
}

function updateFactory(b) {
	b.el["action-factory-reset"].disabled = !factoryConfirmed(b);
}

function removeBand(id) {
	const b = app.bands.get(id);
	if (!b)
		return;
	clearTimeout(b.pressTimer);
	clearTimeout(b.tlTimer);
	b.root.remove();
	app.bands.delete(id);
	updateEmpty();
}

function updateEmpty() {
	byId("no-bands").hidden = !app.started || app.bands.size > 0;
}

const alive = (b) => app.bands.get(b.id) === b;

/* A view from the socket, a snapshot or an action's answer. Missing keys read as null, so a gateway that
 * does not send a key yet shows "—" rather than breaking the card. */
function renderBand(view) {
	let b = app.bands.get(view.id);
	const fresh = !b;
	if (fresh)
		b = newCard(view);
	const old = b.view || {};
	b.view = view;
	fillHeader(b, view);
	fillMetrics(b, view);
	if (fresh) {
		loadTimeline(b);
		loadNotifications(b);
		loadChart(b);
		updateEmpty();
	} else {
		if (old.state !== view.state)
			scheduleTimeline(b);
		if (old.last_sync !== view.last_sync)
			loadChart(b);
	}
}

function fillHeader(b, v) {
	const el = b.el;
	setText(el.title, v.address || v.id);
	setText(el.state, v.state || "unknown");
	el.state.dataset.state = v.state || "";
	el.state.className = `badge tone-${stateTone(v)}`;
	b.root.classList.toggle("has-fault", Boolean(v.fault));
	setText(el["advice-text"], v.advice || "");
	el["advice-text"].parentElement.hidden = !v.advice;
	setText(el.description, v.description || "");
	el.fault.dataset.fault = v.fault || "";
	setText(el.fault, FAULTS[v.fault] ? `Where the fault is: ${FAULTS[v.fault]}` : "No fault found.");
	el.fault.classList.toggle("is-fault", Boolean(FAULTS[v.fault]));
	updateCountdown(b);
}

/* One metric: its text, and its raw value in data-value for whoever reads the page by machine. */
function metric(el, value, text) {
	setText(el, value === null || value === undefined ? "—" : text);
	el.dataset.value = value === null || value === undefined ? "" : String(value);
}

function fillMetrics(b, v) {
	const el = b.el;
	metric(el.steps, isNum(v.steps) ? v.steps : null, isNum(v.steps) ? fmtInt(v.steps) : "");
	metric(el.distance, isNum(v.distance) ? v.distance : null, isNum(v.distance) ? fmtDistance(v.distance) : "");
	metric(el.calories, isNum(v.calories) ? v.calories : null, `${fmtInt(v.calories)} kcal`);
	metric(el.battery, isNum(v.battery) ? v.battery : null, `${v.battery} %${v.charging ? ", charging" : ""}`);
	metric(el["heart-rate"], isNum(v.heart_rate) ? v.heart_rate : null, `${v.heart_rate} bpm`);
	metric(el.rssi, isNum(v.rssi) ? v.rssi : null, `${v.rssi} dBm`);
	metric(el.firmware, v.firmware || null, v.firmware);
	let sync = v.sync || "—";
	if (v.sync === "failed" && v.sync_error)
		sync = `failed: ${v.sync_error}`;
	setText(el.sync, sync);
	el.sync.dataset.value = v.sync || "";
	el.sync.classList.toggle("bad-text", v.sync === "failed");
	updateLastSync(b);
}

function updateLastSync(b) {
	const el = b.el["last-sync"], iso = b.view.last_sync;
	setText(el, iso ? fmtAgo(iso) : "never");
	if (iso) {
		el.dateTime = iso;
		el.title = new Date(parseTime(iso)).toLocaleString();
	}
}

/* While the band waits for its wearer's tap, the seconds left until the gateway gives up. */
function updateCountdown(b) {
	const v = b.view, el = b.el["tap-countdown"];
	const deadline = v.state === "awaiting-tap" && v.tap_deadline ? parseTime(v.tap_deadline) : NaN;
	el.hidden = !Number.isFinite(deadline);
	if (!el.hidden)
		setText(el, `${Math.max(0, Math.ceil((deadline - Date.now()) / 1000))} s left`);
}

function buttonPressed(b, time) {
	b.presses++;
	setText(b.el["button-count"], String(b.presses));
	const el = b.el["button-press"];
	setText(el, `Button pressed at ${fmtClock(time || new Date().toISOString())}`);
	el.hidden = false;
	clearTimeout(b.pressTimer);
	b.pressTimer = setTimeout(() => { el.hidden = true; }, PRESS_SHOWN_MS);
	scheduleTimeline(b);
}

/* Once a second: countdowns, "5 min ago" and the gateway's uptime move on. */
function tick() {
	for (const b of app.bands.values()) {
		updateCountdown(b);
		updateLastSync(b);
	}
	if (app.health)
		setText(byId("health").querySelector('[data-testid="health-uptime"]'), healthUptime());
}

/* ---- actions ---- */

/* An action's outcome: a failure in action-error, other news (say, "Reconnect requested.") beside it. */
function actionMessage(b, text, isError) {
	setText(b.el["action-error"], isError ? text || "" : "");
	setText(b.el["action-status"], isError ? "" : text || "");
}

/* POST …/actions/{verb}. The answer is the band's view (202), or {"error"} with an error status; a 202
 * with {"error"} says the action was already under way, which is news, not a failure. */
async function act(b, verb, body, button) {
	actionMessage(b, "", true);
	button.disabled = true;
	const r = await call("POST", bandPath(b, `/actions/${verb}`), body);
	button.disabled = false;
	if (r.status === 401 || !alive(b))
		return;
	if (!r.ok) {
		actionMessage(b, r.error, true);
	} else if (verb === "forget") {
		removeBand(b.id);
	} else {
		if (r.data && r.data.error)
			actionMessage(b, r.data.error, false);
		else
			actionMessage(b, `${button.textContent} requested.`, false);
		if (r.data && r.data.id === b.id)
			renderBand(r.data);
	}
	if (verb === "factory-reset" && r.ok)
		b.el["factory-confirm"].value = "";
	updateFactory(b);
}

/* ---- notifications ---- */

async function loadNotifications(b) {
	const seq = ++b.notesSeq;
	const r = await call("GET", bandPath(b, "/notifications?limit=20"));
	if (seq !== b.notesSeq || !alive(b) || !r.ok || !Array.isArray(r.data))
		return;
	b.notes = new Map(r.data.filter((n) => n && isNum(n.id)).map((n) => [n.id, n]));
	renderNotifications(b);
}

function upsertNotification(b, n) {
	if (!n || !isNum(n.id))
		return;
	b.notes.set(n.id, { ...b.notes.get(n.id), ...n });
	renderNotifications(b);
}

const KIND_LABELS = { vibrate: "Vibrate", find: "Find" };

function renderNotifications(b) {
	const rows = [...b.notes.values()].sort((x, y) => y.id - x.id).slice(0, 20);
	b.notes = new Map(rows.map((n) => [n.id, n]));
	b.el.notifications.replaceChildren(...rows.map(notificationRow));
}

function notificationRow(n) {
	const li = clone("notification-template");
	li.dataset.status = n.status || "";
	li.dataset.id = String(n.id);
	const status = part(li, "status");
	status.textContent = n.status || "?";
	status.className = `badge tone-${{ sent: "ok", queued: "wait", failed: "bad" }[n.status] || "idle"}`;
	part(li, "text").textContent = n.kind === "text" || !n.kind ? (n.text || "") : (KIND_LABELS[n.kind] || n.kind);
	const meta = [n.source, n.created ? fmtWhen(n.created) : null];
	if (n.attempts > 1)
		meta.push(`${n.attempts} attempts`);
	if (n.status === "failed" && n.error)
		meta.push(n.error);
	part(li, "meta").textContent = meta.filter(Boolean).join(" · ");
	return li;
}

async function sendNotification(b, event) {
	event.preventDefault();
	const input = b.el["notify-text"], err = b.el["notify-error"];
	const text = input.value.trim();
	setText(err, "");
	if (!text) {
		setText(err, "Write something to send.");
		return;
	}
	const bytes = new TextEncoder().encode(text).length;
	if (bytes > NOTIFY_MAX_BYTES) {
		setText(err, `Too long: ${bytes} bytes, at most ${NOTIFY_MAX_BYTES}.`);
		return;
	}
	if (await sendAlert(b, "notify", { text }, b.el["notify-send"]))
		input.value = "";
}

/* notify and find: queued by the gateway as a row, answered with its id; the socket then reports its fate. */
async function sendAlert(b, verb, body, button) {
	const err = b.el["notify-error"];
	button.disabled = true;
	const r = await call("POST", bandPath(b, `/actions/${verb}`), body);
	button.disabled = false;
	if (!alive(b) || r.status === 401)
		return false;
	if (!r.ok) {
		setText(err, r.error);
		return false;
	}
	setText(err, "");
	if (r.data && isNum(r.data.id) && !b.notes.has(r.data.id))
		upsertNotification(b, { id: r.data.id, status: r.data.status || "queued", kind: verb === "notify" ? "text" : verb,
			text: body.text || null, source: "web", attempts: 0, created: new Date().toISOString() });
	return true;
}

/* ---- the timeline ---- */

const EVENT_LABELS = {
	connected: "Connected", disconnected: "Disconnected", "auth-rejected": "Key refused", pairing: "Pairing",
	reset: "Reset", button: "Button pressed", "sync-retry": "Sync retried", "sync-failed": "Sync failed",
	"adapter-reset": "Adapter reset", action: "Action",
};
const BAD_EVENTS = new Set(["disconnected", "auth-rejected", "sync-failed", "adapter-reset"]);

/* At most one fetch per TIMELINE_GAP_MS: a burst of state changes gives one fetch now and one after. */
function scheduleTimeline(b) {
	if (b.tlTimer)
		return;
	const wait = b.tlLast + TIMELINE_GAP_MS - Date.now();
	if (wait <= 0) {
		loadTimeline(b);
		return;
	}
	b.tlTimer = setTimeout(() => {
		b.tlTimer = 0;
		loadTimeline(b);
	}, wait);
}

async function loadTimeline(b) {
	b.tlLast = Date.now();
	const seq = ++b.tlSeq;
	const r = await call("GET", bandPath(b, "/events?limit=50"));
	if (seq !== b.tlSeq || !alive(b) || !r.ok || !Array.isArray(r.data))
		return;
	b.el.timeline.replaceChildren(...r.data.filter((e) => e && typeof e === "object").map(eventRow));
}

function eventRow(e) {
	const li = clone("event-template");
	li.dataset.type = e.type || "";
	li.classList.toggle("bad-event", BAD_EVENTS.has(e.type));
	const time = part(li, "time");
	time.textContent = fmtWhen(e.time);
	time.dateTime = e.time || "";
	part(li, "type").textContent = (EVENT_LABELS[e.type] || e.type || "Event") + (e.band === null ? " (gateway)" : "");
	part(li, "detail").textContent = e.detail || "";
	return li;
}

/* ---- charts ---- */

/* Each range as the gateway is asked for it, and the slots it is drawn in: local hours of today, or local
 * days. Slots are built from local dates, so a day with a clock change has its real number of hours. */
function chartRange(range) {
	const midnight = new Date();
	midnight.setHours(0, 0, 0, 0);
	const starts = [];
	if (range === "today") {
		for (let h = 0; h <= 24; h++)
			starts.push(new Date(midnight.getFullYear(), midnight.getMonth(), midnight.getDate(), h).getTime());
	} else {
		const days = range === "week" ? 7 : 30;
		for (let i = days - 1; i >= -1; i--)
			starts.push(new Date(midnight.getFullYear(), midnight.getMonth(), midnight.getDate() - i).getTime());
	}
	const unique = [...new Set(starts)]; /* the hour skipped by a clock change comes out twice */
	return {
		resolution: range === "today" ? "hour" : "day",
		from: Math.floor(unique[0] / 1000),
		to: Math.floor(Date.now() / 1000) + HOUR_S,
		slots: unique.slice(0, -1).map((start, i) => ({ start, end: unique[i + 1], steps: 0, hr: [], n: 0 })),
	};
}

function setRange(b, range) {
	b.range = range;
	for (const button of b.root.querySelectorAll("button[data-range]"))
		button.setAttribute("aria-pressed", String(button.dataset.range === range));
	loadChart(b);
}

async function loadChart(b) {
	const seq = ++b.chartSeq;
	const q = chartRange(b.range);
	const r = await call("GET",
		bandPath(b, `/activity?from=${q.from}&to=${q.to}&resolution=${q.resolution}`));
	if (seq !== b.chartSeq || !alive(b))
		return;
	if (!r.ok || !r.data || !Array.isArray(r.data.points)) {
		setText(b.el["chart-summary"], r.error || "No activity data.");
		return;
	}
	b.points = r.data.points;
	drawChart(b);
}

let resizeTimer = 0;
function onResize() {
	clearTimeout(resizeTimer);
	resizeTimer = setTimeout(() => { for (const b of app.bands.values()) drawChart(b); }, 200);
}

/* The gateway's buckets into the page's slots. They match one to one when gateway and browser share a time
 * zone; when they do not, a bucket lands in the slot its start falls in. */
function fillSlots(q, points) {
	for (const p of points) {
		const t = p && isNum(p.t) ? p.t * 1000 : NaN;
		const slot = q.slots.find((s) => t >= s.start && t < s.end);
		if (!slot)
			continue;
		slot.steps += isNum(p.steps) ? p.steps : 0;
		slot.n++;
		if (isNum(p.heart_rate))
			slot.hr.push(p.heart_rate);
	}
	for (const s of q.slots)
		s.hrAvg = s.hr.length ? s.hr.reduce((a, x) => a + x, 0) / s.hr.length : null;
}

/* 1, 2 or 5 times a power of ten: round numbers on the axis. */
function niceMax(v) {
	if (v <= 0)
		return 10;
	const p = 10 ** Math.floor(Math.log10(v));
	return [1, 2, 5, 10].map((k) => k * p).find((x) => x >= v);
}

function slotLabel(range, s) {
	const d = new Date(s.start);
	if (range === "today") {
		const e = new Date(s.end);
		const hm = { hour: "2-digit", minute: "2-digit" };
		return `${d.toLocaleTimeString([], hm)}–${e.toLocaleTimeString([], hm)}`;
	}
	return d.toLocaleDateString([], { weekday: "short", month: "short", day: "numeric" });
}

/* The x-axis text under slot i, or null where it would crowd its neighbours. */
function axisLabel(range, s, i, count) {
	const d = new Date(s.start);
	if (range === "today")
		return d.getHours() % 6 === 0 && d.getMinutes() === 0 ? String(d.getHours()).padStart(2, "0") + ":00" : null;
	if (range === "week")
		return d.toLocaleDateString([], { weekday: "short" });
	return i % 5 === 0 || i === count - 1 ? String(d.getDate()) : null;
}

function drawChart(b) {
	const q = chartRange(b.range);
	fillSlots(q, b.points);
	const W = Math.max(260, Math.floor(b.el.chart.clientWidth || 320)), H = 180;
	const box = { l: 44, r: 36, t: 12, b: 24 };
	const plotW = W - box.l - box.r, plotH = H - box.t - box.b;
	const max = niceMax(Math.max(0, ...q.slots.map((s) => s.steps)));
	const slotW = plotW / q.slots.length;
	const total = q.slots.reduce((a, s) => a + s.steps, 0);
	const rangeName = { today: "today, by hour", week: "the last 7 days", month: "the last 30 days" }[b.range];

	const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
		"data-testid": "chart", "aria-label": `Steps ${rangeName}: ${fmtInt(total)} in all` });
	root.append(svg("title", {}, `Steps ${rangeName}`));
	drawStepAxis(root, box, W, plotH, max);
	q.slots.forEach((s, i) => {
		const x = box.l + i * slotW;
		const label = axisLabel(b.range, s, i, q.slots.length);
		if (label)
			root.append(svg("text", { x: x + slotW / 2, y: H - 6, class: "axis", "text-anchor": "middle" }, label));
		if (s.n === 0)
			return; /* no bucket stored: no bar */
		const h = Math.max(1, (s.steps / max) * plotH);
		const bar = svg("rect", { x: x + slotW * 0.12, y: box.t + plotH - h, width: Math.max(1, slotW * 0.76),
			height: h, rx: Math.min(3, slotW * 0.2), class: "bar", "data-testid": "chart-bar", "data-steps": s.steps,
			"data-t": Math.floor(s.start / 1000) });
		const hr = s.hrAvg === null ? "" : `, heart rate ${Math.round(s.hrAvg)} bpm`;
		bar.append(svg("title", {}, `${slotLabel(b.range, s)}: ${fmtInt(s.steps)} steps${hr}`));
		root.append(bar);
	});
	drawHeartRate(root, q.slots, box, slotW, plotH, W);
	b.el.chart.replaceChildren(root);
	setText(b.el["chart-summary"], chartSummary(q.slots, total));
}

function drawStepAxis(root, box, W, plotH, max) {
	for (const f of [0, 0.5, 1]) {
		const y = box.t + plotH - f * plotH;
		root.append(svg("line", { x1: box.l, x2: W - box.r, y1: y, y2: y, class: "grid" }));
		root.append(svg("text", { x: box.l - 6, y: y + 4, class: "axis", "text-anchor": "end" },
			fmtInt(max * f)));
	}
}

/* The heart rate as a line over the slots that have one, on its own scale at the right. */
function drawHeartRate(root, slots, box, slotW, plotH, W) {
	const pts = slots.map((s, i) => ({ s, i })).filter((p) => p.s.hrAvg !== null);
	if (pts.length === 0)
		return;
	const values = pts.map((p) => p.s.hrAvg);
	const lo = Math.max(0, Math.floor((Math.min(...values) - 10) / 10) * 10);
	const hi = Math.ceil((Math.max(...values) + 10) / 10) * 10;
	const y = (v) => box.t + plotH - ((v - lo) / (hi - lo)) * plotH;
	const xy = pts.map((p) => [box.l + (p.i + 0.5) * slotW, y(p.s.hrAvg)]);
	root.append(svg("polyline", { points: xy.map((c) => c.map((n) => n.toFixed(1)).join(",")).join(" "),
		class: "hr-line", "data-testid": "chart-hr" }));
	pts.forEach((p, k) => {
		const dot = svg("circle", { cx: xy[k][0], cy: xy[k][1], r: 2.5, class: "hr-dot" });
		dot.append(svg("title", {}, `${Math.round(p.s.hrAvg)} bpm average`));
		root.append(dot);
	});
	root.append(svg("text", { x: W - box.r + 4, y: box.t + 4, class: "axis hr-axis" }, String(hi)));
	root.append(svg("text", { x: W - box.r + 4, y: box.t + plotH + 4, class: "axis hr-axis" }, String(lo)));
}

function chartSummary(slots, total) {
	if (!slots.some((s) => s.n > 0))
		return "No activity stored for this range yet.";
	const hr = slots.flatMap((s) => s.hr);
	let text = `${fmtInt(total)} steps in all (bars).`;
	if (hr.length) {
		const lo = Math.round(Math.min(...hr)), hi = Math.round(Math.max(...hr));
		text += ` Heart rate ${lo === hi ? lo : `${lo}–${hi}`} bpm (line, right scale).`;
	}
	return text;
}

/* ---- adding a band ---- */

/* POST /api/v1/scan starts the gateway's discovery and answers what it has seen so far; the list is then
 * polled while the gateway looks. */
async function startScan() {
	if (app.scanning)
		return;
	const button = byId("scan"), status = byId("scan-status"), err = byId("scan-error");
	app.scanning = true;
	button.disabled = true;
	setText(err, "");
	setText(status, "Scanning…");
	const r = await call("POST", "/scan", {});
	if (r.ok)
		renderScan(r.data);
	else
		setText(err, r.error);
	const end = Date.now() + SCAN_POLL_FOR_MS;
	while (r.ok && app.started && Date.now() < end) {
		setText(status, `Scanning… ${Math.ceil((end - Date.now()) / 1000)} s`);
		await new Promise((resolve) => setTimeout(resolve, SCAN_POLL_MS));
		const p = await call("GET", "/scan");
		if (p.ok)
			renderScan(p.data);
	}
	app.scanning = false;
	button.disabled = false;
	if (!app.started)
		return;
	const found = [...app.scanRows.values()].filter((li) => !li.hidden).length;
	setText(status, !r.ok ? "" : found ? `${found} band${found > 1 ? "s" : ""} found.` :
		"No new band found. Is it close, charged, and not connected to a phone?");
}

/* Rows are kept by address across polls (a band advertises now and then); the bands the gateway already
 * manages are not offered. A new row takes its place by signal, strongest first, and then stays put: a row
 * moved while the pointer is on it loses the click (Chromium drops a click whose button left the page between
 * press and release, and a re-sort on every poll did just that to Add). */
function renderScan(list) {
	if (!Array.isArray(list) || !app.started)
		return;
	const results = byId("scan-results");
	const rssiOf = (li) => Number(li.dataset.rssi) || -999;
	for (const s of list) {
		if (!s || typeof s.address !== "string")
			continue;
		let li = app.scanRows.get(s.address);
		const fresh = !li;
		if (fresh) {
			li = clone("scan-template");
			li.dataset.address = s.address;
			const add = part(li, "add");
			add.addEventListener("click", () => addBand(s.address, add));
			app.scanRows.set(s.address, li);
		}
		li.hidden = Boolean(s.managed) && !li.dataset.added;
		li.dataset.rssi = isNum(s.rssi) ? String(s.rssi) : "";
		part(li, "name").textContent = s.name || "Unnamed band";
		part(li, "address").textContent = s.address;
		part(li, "rssi").textContent = isNum(s.rssi) ? `${s.rssi} dBm` : "";
		if (fresh)
			results.insertBefore(li, [...results.children].find((x) => rssiOf(x) < rssiOf(li)) || null);
	}
}

async function addBand(address, button) {
	const err = byId("scan-error");
	setText(err, "");
	button.disabled = true;
	const r = await call("POST", "/bands", { address });
	if (r.status === 401)
		return;
	if (!r.ok) {
		button.disabled = false;
		setText(err, r.error);
		return;
	}
	button.closest("li").dataset.added = "1";
	button.textContent = "Added";
	if (r.data && typeof r.data.id === "string")
		renderBand(r.data);
}

/* ---- gateway health ---- */

async function loadHealth() {
	const r = await call("GET", "/health");
	if (r.ok && r.data && app.started)
		renderHealth(r.data);
}

function healthUptime() {
	const h = app.health;
	return isNum(h.uptime_s) ? fmtDuration(h.uptime_s + (Date.now() - app.healthAt) / 1000) : "—";
}

function renderHealth(h) {
	if (!h || typeof h !== "object" || !app.started)
		return;
	app.health = h;
	app.healthAt = Date.now();
	const root = byId("health");
	const field = (name, text, bad = false) => {
		const el = root.querySelector(`[data-testid="${name}"]`);
		setText(el, text);
		el.classList.toggle("bad-text", bad);
	};
	root.hidden = false;
	field("health-uptime", healthUptime());
	field("health-adapter", h.adapter || "—", h.adapter !== "powered");
	field("health-mqtt", h.mqtt_connected === null || h.mqtt_connected === undefined ? "off" :
		h.mqtt_connected ? "connected" : "disconnected", h.mqtt_connected === false);
	field("health-outbox", isNum(h.outbox) ? `${fmtInt(h.outbox)} queued` : "—");
	field("health-db", isNum(h.db_bytes) ? fmtBytes(h.db_bytes) : "—");
	field("health-adapter-resets", isNum(h.adapter_resets) ? fmtInt(h.adapter_resets) : "—");
	field("health-rss", isNum(h.rss_bytes) ? fmtBytes(h.rss_bytes) : "—");
	field("health-version", h.version || "—");
	root.querySelector('[data-testid="health-mqtt"]').dataset.value = String(h.mqtt_connected ?? "null");
}

document.addEventListener("DOMContentLoaded", boot);
