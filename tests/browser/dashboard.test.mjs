/* The dashboard in a real browser (DESIGN.md, Tests: browser/): headless Debian Chromium driven by playwright-core,
 * against the real bandgate and bandgate-sim on a private bus (world.mjs). Each scenario gets a world of its own
 * and a fresh browser context, does what a person does on the page, and asserts what the page shows; the
 * simulator is the independent truth where there is one (the steps it walked, the alert its screen showed, the
 * history it holds). Every scenario also fails on a console error, an uncaught exception or a Content Security
 * Policy violation, except the few errors the scenario expects and names (a 401 while logged out, a refused
 * connection while the daemon is down); the last scenario proves that this check can fail.
 *
 * Run: ctest -R integration-browser, or by hand from the build tree:
 *   BANDGATE=gateway/bandgate BANDGATE_SIM=tests/sim/bandgate-sim node ../../tests/browser/dashboard.test.mjs
 * BANDGATE_SCREENSHOTS names the folder for the screenshots (ctest: <build>/screenshots; else $TMPDIR/
 * bandgate-screenshots); a scenario that fails leaves FAILED-<scenario>.png there. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { World, idOf, killAll, waitFor } from "./world.mjs";

const { chromium } = await import("playwright-core").catch((e) => {
	e.message += " (deploy/install-deps.sh test installs it: npm ci in tests/browser)";
	throw e;
});

const execFileP = promisify(execFile);

const CHROMIUM = process.env.BANDGATE_CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.BANDGATE_SCREENSHOTS || path.join(os.tmpdir(), "bandgate-screenshots");
const DESKTOP = { width: 1280, height: 800 }, PHONE = { width: 390, height: 844 };
const SCENARIO_MS = 240000;   /* the ASan daemon is slow; the waits inside are on conditions */
const WAIT_MS = 60000;        /* the longest a page condition is waited for */

/* A fixed-offset zone in which it is about noon now, for the gateway, the simulator and the browser alike: the
 * chart's "today" then has hours of history behind it and none of the run is near a midnight. Etc/GMT's sign is
 * POSIX's: Etc/GMT-2 is two hours ahead of UTC. */
const ZONE = (() => {
	const offset = 12 - new Date().getUTCHours(); /* -11 .. 12 */
	return `Etc/GMT${offset > 0 ? "-" : "+"}${Math.abs(offset)}`;
})();

let browser;

before(async () => {
	fs.mkdirSync(SHOTS, { recursive: true });
	for (const f of fs.readdirSync(SHOTS).filter((n) => n.endsWith(".png")))
		fs.rmSync(path.join(SHOTS, f)); /* this run's pictures only, FAILED-* included */
	browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});

after(async () => {
	await browser?.close();
	killAll(); /* whatever a scenario that timed out left running */
});

/* ---- the watch on the console (scenario j) ---- */

/* What a page may say without failing its scenario: the 401 of GET /api/v1/session that tells a logged-out
 * page to show the login form (the session contract). Scenarios add what they cause on purpose. */
const ALWAYS_ALLOWED = [{ text: /status of 401/, url: /\/api\/v1\/session$/ }];

/* Collects the page's console errors and warnings, uncaught exceptions and CSP violations (also reported by an
 * init script, which the page's CSP does not govern, in case the browser stops logging them). */
async function watch(context, page) {
	const seen = { problems: [], allowed: [...ALWAYS_ALLOWED] };
	await context.addInitScript(() => {
		document.addEventListener("securitypolicyviolation", (e) => {
			console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ` +
				`${e.sourceFile}:${e.lineNumber}`);
		});
	});
	page.on("console", (m) => {
		if (m.type() !== "error" && m.type() !== "warning")
			return;
		const url = m.location().url || "";
		if (seen.allowed.some((a) => a.text.test(m.text()) && (!a.url || a.url.test(url))))
			return;
		seen.problems.push(`console ${m.type()}: ${m.text()} (${url})`);
	});
	page.on("pageerror", (e) => seen.problems.push(`uncaught: ${e.stack || e}`));
	page.on("crash", () => seen.problems.push("the page crashed"));
	return seen;
}

/* ---- the scenario runner ---- */

/* One scenario: a world (simulator flags in opts.sim; the gateway managing opts.manage(bands), by default the
 * first band, paired with the wearer's tap), a browser context and its page, and the checks every scenario
 * ends with: a quiet console, and both daemons stopping cleanly (under ASan: no leak, no error). */
function scenario(name, opts, body) {
	test(name, { timeout: SCENARIO_MS }, async () => {
		const w = await World.create(opts.sim || [], { TZ: ZONE });
		let context = null, page = null, seen = null, passed = false;
		try {
			if (opts.beforeGateway)
				await opts.beforeGateway(w);
			const managed = (opts.manage || ((bands) => [bands[0]]))(w.bands);
			await w.startGateway(managed);
			await Promise.all(managed.map((a) => w.tapUntilReady(a)));
			context = await browser.newContext({ viewport: DESKTOP, timezoneId: ZONE, locale: "en-US" });
			page = await context.newPage();
			seen = await watch(context, page);
			const shoot = (label, shotOpts) => screenshots(page, `${opts.tag}-${label}`, shotOpts);
			await body({ w, page, addr: w.bands[0], seen, shoot });
			assert.deepEqual(seen.problems, [], "the page's console was not quiet");
			passed = true;
		} catch (e) {
			if (page)
				await page.screenshot({ path: path.join(SHOTS, `FAILED-${opts.tag}.png`), fullPage: true })
					.catch(() => {});
			e.message += `\n--- console problems: ${JSON.stringify(seen?.problems ?? [])}` +
				`\n--- bandgate's log, last lines:\n${tail(w.gatewayOutput(), 60)}`;
			throw e;
		} finally {
			await context?.close().catch(() => {});
			const codes = await w.close();
			if (passed) {
				assert.equal(codes.gateway, 0, `bandgate did not stop cleanly:\n${tail(w.lastGatewayOutput, 60)}`);
				assert.equal(codes.sim, 0, "bandgate-sim did not stop cleanly");
			}
		}
	});
}

const tail = (text, n) => (text || "").split("\n").slice(-n).join("\n");

/* ---- the page ---- */

const card = (page, address) => page.locator(`[data-testid="band-card"][data-band-id="${idOf(address)}"]`);
const part = (root, testid) => root.locator(`[data-testid="${testid}"]`).first();

/* Waits until the element's text matches (a RegExp or an exact string); returns the text. */
async function expectText(locator, want, timeoutMs = WAIT_MS) {
	const ok = (t) => t !== null && (want instanceof RegExp ? want.test(t) : t.trim() === want);
	let last = null;
	await waitFor(async () => {
		last = await locator.textContent({ timeout: 1000 }).catch(() => null);
		return ok(last);
	}, () => `${locator} to read ${want}; it reads ${JSON.stringify(last)}`, timeoutMs);
	return last;
}

async function expectVisible(locator, visible = true, timeoutMs = WAIT_MS) {
	await locator.waitFor({ state: visible ? "visible" : "hidden", timeout: timeoutMs });
}

/* The band's state as its card's badge says it. */
const expectState = (page, address, state, timeoutMs) => expectText(part(card(page, address), "state"), state,
	timeoutMs);

async function login(page, w) {
	await page.goto(w.url);
	await expectVisible(page.getByTestId("login"));
	await page.getByTestId("password").fill(w.password);
	await page.getByTestId("password").press("Enter");
	await expectVisible(page.locator("#dashboard"));
	await expectVisible(page.getByTestId("logout"));
}

/* The page's data-value of a metric, as a number (NaN while unknown). */
async function metricValue(root, testid) {
	return Number(await part(root, testid).getAttribute("data-value", { timeout: 5000 }));
}

/* The current state of the page at desktop and phone size (light, and dark when asked), full length. A chart is
 * redrawn for the new width a moment after a resize: the shot waits for that (a while, not more: it only looks). */
async function screenshots(page, name, { dark = false } = {}) {
	for (const scheme of dark ? ["light", "dark"] : ["light"]) {
		await page.emulateMedia({ colorScheme: scheme });
		for (const [size, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
			await page.setViewportSize(viewport);
			await page.waitForFunction(() => [...document.querySelectorAll(".chart")].every((c) => {
				const s = c.querySelector("svg");
				return !s || c.offsetParent === null ||
					Number(s.getAttribute("width")) === Math.max(260, Math.floor(c.clientWidth || 320));
			}), null, { timeout: 10000 }).catch(() => {}); /* a picture, not an assertion */
			const suffix = scheme === "dark" ? `${size}-dark` : size;
			await page.screenshot({ path: path.join(SHOTS, `${name}-${suffix}.png`), fullPage: true });
		}
	}
	await page.setViewportSize(DESKTOP);
	await page.emulateMedia({ colorScheme: null });
}

/* ---- the simulator's history, and the gateway's copy of it ---- */

/* Per-minute samples for AddHistory, in GVariant text: some walking, a heart rate now and then. */
function historyText(n, seed) {
	const samples = [];
	for (let i = 0; i < n; i++) {
		const steps = (i * 37 + seed) % 90 + 10;
		samples.push(`(1, ${40 + steps % 50}, ${steps}, ${i % 10 === 0 ? 60 + i % 30 : 255})`);
	}
	return `[${samples.join(", ")}]`;
}

/* The band's own history from from to to (UTC s, inclusive), as the simulator holds it: [minute, steps]. */
async function simHistory(w, address, from, to) {
	const text = await w.control("GetHistory", `'${address}'`, from, to);
	const start = Number(/\(int64 (-?\d+),/.exec(text)[1]);
	const out = [];
	const re = /\((?:byte )?0x([0-9a-f]{2}), (?:byte )?0x([0-9a-f]{2}), (?:byte )?0x([0-9a-f]{2}), (?:byte )?0x([0-9a-f]{2})\)/g;
	for (let m, i = 0; (m = re.exec(text)); i++)
		out.push([start + 60 * i, parseInt(m[3], 16)]);
	return out;
}

/* What the gateway stored for the band: [minute, steps] in order, read from its SQLite file. */
async function dbActivity(w, address) {
	const { stdout } = await execFileP("sqlite3", ["-readonly", "-separator", " ", w.database,
		`SELECT minute, steps FROM activity WHERE address = '${address}' ORDER BY minute`], { timeout: 20000 });
	return stdout.trim().split("\n").filter(Boolean).map((l) => l.split(" ").map(Number));
}

/* Steps by the start of their local hour (UTC s): the zone's offset is whole hours. */
function byHour(minutes) {
	const out = {};
	for (const [t, steps] of minutes) {
		const hour = t - ((t % 3600) + 3600) % 3600;
		out[hour] = (out[hour] || 0) + steps;
	}
	return out;
}

/* The chart's bars: slot start (UTC s) → steps, as the page drew them. */
function chartBars(page, address) {
	return card(page, address).locator('[data-testid="chart-bar"]').evaluateAll((bars) =>
		Object.fromEntries(bars.map((b) => [b.getAttribute("data-t"), Number(b.getAttribute("data-steps"))])));
}

/* Waits until today's chart shows, hour by hour, what the gateway stored, and what the gateway stored is what
 * the band holds for those minutes. Returns the stored minutes. */
async function expectChartMatches(page, w, address) {
	let last = {};
	return waitFor(async () => {
		const stored = await dbActivity(w, address);
		if (stored.length === 0)
			return null;
		const band = await simHistory(w, address, stored[0][0], stored[stored.length - 1][0]);
		const bars = await chartBars(page, address);
		const want = byHour(band);
		last = { stored: byHour(stored), band: want, bars };
		return JSON.stringify(byHour(stored)) === JSON.stringify(byHour(band)) &&
			JSON.stringify(sorted(bars)) === JSON.stringify(sorted(want)) ? stored : null;
	}, () => `the chart to match the band's history: ${JSON.stringify(last)}`, WAIT_MS, 250);
}

const sorted = (o) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => Number(a) - Number(b)));

/* ==== the scenarios ==== */

scenario("a. log in: a wrong password shows the error, the right one opens the dashboard", { tag: "a-login" },
	async ({ w, page, addr, seen, shoot }) => {
		seen.allowed.push({ text: /status of 401/, url: /\/api\/v1\/login$/ });
		const res = await page.goto(w.url);
		const csp = res.headers()["content-security-policy"] || "";
		assert.match(csp, /default-src 'self'/, "the page is served with its Content-Security-Policy");
		await expectVisible(page.getByTestId("login"));
		assert.equal(await page.locator("#dashboard").isVisible(), false);
		await shoot("form");

		await page.getByTestId("password").fill("not the password");
		await page.getByRole("button", { name: "Log in" }).click();
		await expectText(page.getByTestId("login-error"), /wrong password/i);
		await expectVisible(page.getByTestId("login-error"));
		assert.equal(await page.locator("#dashboard").isVisible(), false, "no dashboard for a wrong password");
		await shoot("wrong-password");

		await page.getByTestId("password").fill(w.password);
		await page.getByRole("button", { name: "Log in" }).click();
		await expectVisible(page.getByTestId("login"), false);
		await expectState(page, addr, "ready");
		await expectText(part(card(page, addr), "steps"), /^\d[\d,]*$/);
		await expectVisible(page.getByTestId("health"));
		const cookies = await page.context().cookies(w.url);
		assert.ok(cookies.length === 1 && cookies[0].httpOnly && cookies[0].sameSite === "Strict",
			`one HttpOnly SameSite=Strict session cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);

		/* A reload keeps the session; logging out brings the form back, and a reload keeps it there. The chart's
		 * request after the reload is held in the browser until the logout is done, as a slow gateway would:
		 * the page must drop it, not let it reach the gateway after the logout (a 401 on the console, and the
		 * form saying the session had ended if that 401 came first). */
		const held = [];
		let heldOne;
		const chartHeld = new Promise((resolve) => { heldOne = resolve; });
		await page.route(/\/api\/v1\/bands\/[^/]+\/activity\?/, (route) => { held.push(route); heldOne(); });
		await page.reload();
		await expectState(page, addr, "ready");
		assert.equal(await page.getByTestId("login").isVisible(), false);
		await chartHeld;
		const chartRequest = held[0].request();
		await page.getByTestId("logout").click();
		await expectVisible(page.getByTestId("login"));
		await page.unroute(/\/api\/v1\/bands\/[^/]+\/activity\?/);
		for (const route of held)
			await route.continue().catch(() => {}); /* an aborted request has nothing left to continue */
		const answer = await chartRequest.response().catch(() => null);
		assert.ok(answer === null, `the chart's request outlived the logout and was answered ${answer?.status()}`);
		assert.match(chartRequest.failure()?.errorText || "", /ABORTED/, "the logout aborted the chart's request");
		assert.equal(await card(page, addr).count(), 0, "the cards go with the session");
		assert.equal(await page.getByTestId("login-note").isVisible(), false, "a logout needs no explanation");
		await page.reload();
		await expectVisible(page.getByTestId("login"));
	});

scenario("b. live steps move when the wearer walks, without a reload", { tag: "b-steps" },
	async ({ w, page, addr, shoot }) => {
		await login(page, w);
		const c = card(page, addr);
		await expectState(page, addr, "ready");
		await page.evaluate(() => { window.bandgateNotReloaded = true; });
		const before = await waitFor(async () => {
			const v = await metricValue(c, "steps");
			return Number.isFinite(v) ? { v } : null;
		}, "a step count on the card");
		await w.control("Walk", `'${addr}'`, 123);
		const walked = await waitFor(async () => {
			const v = await metricValue(c, "steps");
			return v >= before.v + 123 ? { v } : null;
		}, `the steps to pass ${before.v} + 123`);
		await w.control("Walk", `'${addr}'`, 77);
		const after = await waitFor(async () => {
			const v = await metricValue(c, "steps");
			return v >= walked.v + 77 ? { v } : null;
		}, `the steps to pass ${walked.v} + 77`);
		/* What the card says is the gateway's count, shown the way a person reads it. */
		const view = await w.bandView(addr);
		assert.ok(view.steps >= after.v, `the gateway counts ${view.steps}, the card ${after.v}`);
		assert.match(await part(c, "steps").textContent(), /^\d{1,3}(,\d{3})*$/);
		assert.equal(await page.evaluate(() => window.bandgateNotReloaded), true, "the page was not reloaded");
		await shoot("walked");
	});

scenario("c. a press of the band's button shows on its card", { tag: "c-button" },
	async ({ w, page, addr, shoot }) => {
		await login(page, w);
		const c = card(page, addr);
		await expectState(page, addr, "ready");
		assert.equal(await part(c, "button-press").isVisible(), false);
		/* The note shows for a few seconds: the page itself records that it was shown, and what it said. */
		await part(c, "button-press").evaluate((el) => {
			window.pressesShown = [];
			new MutationObserver(() => {
				if (!el.hidden)
					window.pressesShown.push(el.textContent);
			}).observe(el, { attributes: true, attributeFilter: ["hidden"] });
		});
		await w.control("PressButton", `'${addr}'`);
		const shown = await waitFor(() => page.evaluate(() => window.pressesShown[0]), "the press shown on the card");
		assert.match(shown, /^Button pressed at \d{1,2}:\d{2}:\d{2}\s?(AM|PM)?$/);
		await expectText(part(c, "button-count"), "1");
		await shoot("pressed");
		await w.control("PressButton", `'${addr}'`);
		await expectText(part(c, "button-count"), "2");
		/* The timeline has it too (fetched from the API when the press arrives). */
		await waitFor(async () => await c.locator('[data-testid="timeline"] li[data-type="button"]').count() >= 1,
			"a button press in the card's timeline");
	});

scenario("d. re-pair: the card asks for the tap, then the band is ready again", { tag: "d-repair" },
	async ({ w, page, addr, shoot }) => {
		await login(page, w);
		const c = card(page, addr);
		await expectState(page, addr, "ready");
		assert.equal(await part(c, "advice").isVisible(), false, "a ready band needs no advice");
		await part(c, "action-repair").click();
		await expectText(c.locator('[data-part="action-status"]'), /Re-pair requested/);
		await expectText(part(c, "advice"), /Tap the band now/);
		await expectVisible(part(c, "advice"));
		await expectState(page, addr, "awaiting-tap");
		await expectText(part(c, "tap-countdown"), /^\d+ s left$/);
		await shoot("awaiting-tap", { dark: true });
		await w.tapUntilReady(addr);
		await expectState(page, addr, "ready");
		await expectVisible(part(c, "advice"), false);
		assert.equal(await part(c, "tap-countdown").isVisible(), false);
		await shoot("ready-again");
	});

scenario("e. a band re-keyed by another phone shows the advice, and re-pair cures it", { tag: "e-rejected" },
	async ({ w, page, addr, shoot }) => {
		await login(page, w);
		const c = card(page, addr);
		await expectState(page, addr, "ready");
		await w.control("SetKey", `'${addr}'`, "@ay []");
		await w.control("DropLink", `'${addr}'`);
		await expectState(page, addr, "auth-rejected");
		await expectText(part(c, "advice"), "Paired to another phone: press Re-pair");
		await expectText(part(c, "fault"), /The band: it is not advertising or refuses the key/);
		assert.match(await part(c, "state").getAttribute("class"), /tone-bad/);
		await shoot("auth-rejected", { dark: true });
		await part(c, "action-repair").click();
		await expectText(part(c, "advice"), /Tap the band now/);
		await w.tapUntilReady(addr);
		await expectState(page, addr, "ready");
		await expectVisible(part(c, "advice"), false);
		await expectText(part(c, "fault"), "No fault found.");
	});

scenario("f. a notification from the page's form reaches the band and is listed as sent", { tag: "f-notify" },
	async ({ w, page, addr, shoot }) => {
		await login(page, w);
		const c = card(page, addr);
		await expectState(page, addr, "ready");
		await part(c, "notify-send").click();
		await expectText(c.locator('[data-part="notify-error"]'), "Write something to send.");
		const text = "Dinner is ready";
		await part(c, "notify-text").fill(text);
		await part(c, "notify-send").click();
		const row = c.locator('[data-testid="notification"]', { hasText: text });
		await waitFor(async () => await row.getAttribute("data-status", { timeout: 1000 }).catch(() => null) === "sent",
			`the notification "${text}" to be listed as sent`);
		await expectText(row.locator('[data-part="status"]'), "sent");
		assert.equal(await part(c, "notify-text").inputValue(), "", "the form is cleared once the gateway took it");
		assert.equal(await c.locator('[data-part="notify-error"]').textContent(), "");
		const alerts = await w.control("GetAlerts", `'${addr}'`);
		assert.ok(alerts.includes(`'${text}'`), `the band's screen showed it: ${alerts}`);
		await shoot("sent");
	});

scenario("g. the chart shows the history the gateway synced from the band", {
	tag: "g-chart", sim: ["--days", "0"],
	/* 150 minutes of walking up to the last complete one, given to the band before the gateway first syncs. */
	beforeGateway: async (w) => {
		const now = Math.floor(Date.now() / 1000);
		await w.control("AddHistory", `'${w.bands[0]}'`, now - now % 60 - 150 * 60, historyText(150, 3));
	},
}, async ({ w, page, addr, shoot }) => {
	await login(page, w);
	const c = card(page, addr);
	await expectState(page, addr, "ready");
	const first = await expectChartMatches(page, w, addr);
	assert.ok(first.length >= 150, `the gateway stored the band's history: ${first.length} minutes`);
	const total = first.reduce((a, [, s]) => a + s, 0);
	await expectText(c.locator('[data-part="chart-summary"]'), new RegExp(`^${total.toLocaleString("en-US")} steps in all`));
	assert.ok(await c.locator('[data-testid="chart-hr"]').count() === 1, "the heart rate line is drawn");
	await shoot("today", { dark: true });

	/* A minute of walking becomes history (the band's clock moved past it), "Sync now" fetches it, and the
	 * chart follows without a reload. */
	const walkedFrom = (await w.simBand(addr)).clock;
	await w.control("Walk", `'${addr}'`, 200);
	const { clock, tz } = await w.simBand(addr);
	await w.control("SetClock", `'${addr}'`, clock - clock % 60 + 61, tz);
	await part(c, "action-sync").click();
	const second = await waitFor(async () => {
		const stored = await dbActivity(w, addr);
		return stored.some(([t, s]) => t >= walkedFrom - walkedFrom % 60 && s === 200) ? stored : null;
	}, "the walked minute in the gateway's database");
	await expectChartMatches(page, w, addr);
	assert.ok(second.length > first.length);

	/* The 7-day view sums the same minutes into one bar for today. */
	await c.getByRole("button", { name: "7 days" }).click();
	await waitFor(async () => {
		const bars = Object.values(await chartBars(page, addr));
		const stored = (await dbActivity(w, addr)).reduce((a, [, s]) => a + s, 0);
		return bars.length === 1 && bars[0] === stored;
	}, "one bar for today in the 7-day view holding every stored step");
	await shoot("week");
});

scenario("h. scan finds a second band, Add manages it and it becomes ready", {
	tag: "h-scan", sim: ["--bands", "2"],
}, async ({ w, page, shoot }) => {
	const [first, second] = w.bands;
	await login(page, w);
	await expectState(page, first, "ready");
	assert.equal(await card(page, second).count(), 0);
	await page.getByTestId("scan").click();
	const row = page.locator(`[data-testid="scan-row"][data-address="${second}"]`);
	await expectVisible(row);
	assert.equal(await page.locator(`[data-testid="scan-row"][data-address="${first}"]`).isVisible(), false,
		"a band the gateway manages is not offered");
	await shoot("found");
	/* The row stays in the page across a poll of the list: a press that lasts over a poll, as a slow finger's
	 * does, is lost if its button leaves the page between press and release (Chromium drops that click), and
	 * a list that re-sorted itself on every poll did just that to Add. Holding a real press to show it raced
	 * with the rest of the page moving under the pointer (the first band's card grows as its sync's events
	 * come in), so the page's own record of the list's changes is the witness: a poll must change the row in
	 * place, never take it out. */
	await page.evaluate((address) => {
		const results = document.getElementById("scan-results");
		const row = results.querySelector(`[data-address="${address}"]`);
		window.scanPoll = { changes: 0, removed: 0 };
		new MutationObserver((records) => {
			for (const r of records) {
				window.scanPoll.changes++;
				if ([...r.removedNodes].some((n) => n === row || n.contains?.(row)))
					window.scanPoll.removed++;
			}
		}).observe(results, { childList: true, subtree: true, characterData: true });
	}, second);
	await waitFor(() => page.evaluate(() => window.scanPoll.changes > 0), "a poll of the scan list");
	const poll = await page.evaluate(() => window.scanPoll);
	assert.equal(poll.removed, 0, `a poll took the row out of the page (${poll.removed} of ${poll.changes} changes)`);
	await row.getByTestId("add").click();
	await expectText(row.getByTestId("add"), "Added");
	await expectVisible(card(page, second));
	await expectText(part(card(page, second), "advice"), /Tap the band now/);
	await w.tapUntilReady(second);
	await expectState(page, second, "ready");
	await expectState(page, first, "ready", 5000);
	const ids = await page.locator('[data-testid="band-card"]').evaluateAll((cs) => cs.map((c) => c.dataset.bandId));
	assert.deepEqual(ids, [first, second].map(idOf).sort(), "two cards, in address order");
	await expectText(page.locator("#scan-status"), /band(s)? found|No new band/);
	await shoot("two-bands");
});

scenario("i. the page rides out the daemon's restart: offline, then the login form, then live again", {
	tag: "i-restart",
}, async ({ w, page, addr, seen, shoot }) => {
	await login(page, w);
	await expectState(page, addr, "ready");
	/* While the daemon is away the browser says that it cannot connect; after its return the old session is
	 * gone (sessions live in memory), which the socket's refused upgrade and a 401 say. */
	const away = { text: /net::ERR_[A-Z_]+|WebSocket connection to .* failed/ };
	seen.allowed.push(away);
	await w.stopGateway();
	await expectVisible(page.getByTestId("offline"));
	await expectText(page.getByTestId("offline"), /Offline/);
	assert.ok(Number(await page.locator("#dashboard").evaluate((d) => getComputedStyle(d).opacity)) < 1,
		"what the page shows while offline is greyed");
	await shoot("offline");
	await w.startGateway(w.bandList);
	await expectVisible(page.getByTestId("login"));
	await expectVisible(page.getByTestId("offline"), false);
	assert.equal(await page.locator("#dashboard").isVisible(), false);
	await expectText(page.getByTestId("login-note"), /session has ended/);
	seen.allowed.splice(seen.allowed.indexOf(away), 1); /* the daemon is back: no more of those */
	await shoot("login-after-restart");
	await page.getByTestId("password").fill(w.password);
	await page.getByTestId("password").press("Enter");
	await expectState(page, addr, "ready");
	await expectVisible(page.getByTestId("offline"), false);
	assert.equal(await page.getByTestId("login-note").isVisible(), false);
	/* Live again: a walk shows without a reload. */
	const c = card(page, addr);
	const before = await metricValue(c, "steps");
	await w.control("Walk", `'${addr}'`, 50);
	await waitFor(async () => await metricValue(c, "steps") >= before + 50, "the steps to move after the restart");
});

/* j is in every scenario (the watch above); this one proves the watch can fail: an inline style attribute, an
 * inline script and a console error on the real page must each be caught. */
scenario("j. the console watch catches CSP violations and console errors", { tag: "j-watch" },
	async ({ w, page, seen }) => {
		await login(page, w);
		await page.evaluate(() => {
			const d = document.createElement("div");
			d.innerHTML = '<p style="color: red">inline style</p>';
			document.body.append(d);
			const s = document.createElement("script");
			s.textContent = "window.inlineRan = true";
			document.body.append(s);
		});
		await waitFor(() => seen.problems.filter((p) => /CSP violation|Content Security Policy/.test(p)).length >= 2,
			() => `two CSP violations reported: ${JSON.stringify(seen.problems)}`, 10000);
		assert.equal(await page.evaluate(() => window.inlineRan), undefined, "the inline script did not run");
		await page.evaluate(() => console.error("deliberate"));
		await page.evaluate(() => setTimeout(() => { throw new Error("deliberately uncaught"); }));
		await waitFor(() => seen.problems.some((p) => /deliberate$|deliberate \(/.test(p)) &&
			seen.problems.some((p) => /uncaught: Error: deliberately uncaught/.test(p)),
		() => `the error and the exception reported: ${JSON.stringify(seen.problems)}`, 10000);
		seen.problems.length = 0; /* caught, as they should be: this scenario passes */
	});
