/* The world a browser test looks at, as tests/integration/harness.py builds it: a private dbus-daemon,
 * bandgate-sim on it playing the bands, and the real bandgate with its dashboard on a free loopback port. The
 * simulator is driven with gdbus (its control interface: tests/sim/io.bandgate.Sim1.xml); the gateway's state
 * is read through its API on the Unix socket, which needs no login, so the page under test is the only client
 * of the LAN listener. Every process started here is stopped by close(), and killed when node exits anyway.
 *
 * BANDGATE and BANDGATE_SIM name the binaries (ctest sets them). */
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const execFileP = promisify(execFile);

const BUS_CONF = (dir) => `<busconfig><type>system</type><listen>unix:path=${dir}/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/></policy></busconfig>`;

/* Every child still running, so that a test that throws or a node that exits leaves nothing behind. */
const children = new Set();

export function killAll() {
	for (const child of children)
		child.kill("SIGKILL");
}
process.on("exit", killAll);

/* Polls fn until it returns something truthy; throws what(last value) after timeoutMs. Tests wait for a
 * condition this way, never for a fixed time. */
export async function waitFor(fn, what, timeoutMs = 60000, everyMs = 100) {
	const deadline = Date.now() + timeoutMs;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > deadline)
			throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${typeof what === "function" ? what(last) : what}`);
		await new Promise((resolve) => setTimeout(resolve, everyMs));
	}
}

/* A child whose output lines are kept, so that a test can wait for one and show them all when it fails. */
class Child {
	constructor(name, argv, env) {
		this.name = name;
		this.lines = [];
		this.waiters = new Set();
		this.done = false;
		this.proc = spawn(argv[0], argv.slice(1), { env: env || process.env, stdio: ["ignore", "pipe", "pipe"] });
		/* A program that could not be started (say, its file is being rebuilt) gives an error and no exit. */
		this.exited = new Promise((resolve) => {
			const end = (code) => {
				if (this.done)
					return;
				this.done = true;
				children.delete(this.proc);
				this.code = code;
				this.wake();
				resolve(code);
			};
			/* "close", not "exit": it comes after the last of the output, which waitLine and the logs read. */
			this.proc.on("close", (code, signal) => end(code ?? signal));
			this.proc.on("error", (e) => {
				this.lines.push(`${name}: ${e.message}`);
				end(e.code || "error");
			});
		});
		children.add(this.proc);
		for (const stream of [this.proc.stdout, this.proc.stderr]) {
			let partial = "";
			stream.setEncoding("utf8");
			stream.on("data", (chunk) => {
				const parts = (partial + chunk).split("\n");
				partial = parts.pop();
				this.lines.push(...parts);
				this.wake();
			});
		}
	}

	get running() {
		return !this.done;
	}

	wake() {
		for (const w of this.waiters)
			w();
	}

	/* The first line matching re (a RegExp) and its match; rejects when the child exits or after timeoutMs. */
	waitLine(re, timeoutMs) {
		return new Promise((resolve, reject) => {
			const check = () => {
				for (const line of this.lines) {
					const m = line.match(re);
					if (m)
						return done(null, m);
				}
				if (!this.running)
					done(new Error(`${this.name} exited (${this.code}) before printing ${re}:\n${this.output()}`));
				return undefined;
			};
			const timer = setTimeout(() => done(new Error(`${this.name} never printed ${re}:\n${this.output()}`)),
				timeoutMs);
			const done = (err, m) => {
				clearTimeout(timer);
				this.waiters.delete(check);
				if (err)
					reject(err);
				else
					resolve(m);
			};
			this.waiters.add(check);
			check();
		});
	}

	/* SIGTERM, then SIGKILL if it does not go within timeoutMs; resolves to the exit code (or signal name). */
	async stop(timeoutMs = 30000) {
		if (this.running) {
			this.proc.kill("SIGTERM");
			const timer = setTimeout(() => this.proc.kill("SIGKILL"), timeoutMs);
			await this.exited;
			clearTimeout(timer);
		}
		return this.exited;
	}

	output() {
		return this.lines.join("\n");
	}
}

/* A port for the dashboard that is free now, outside the kernel's range of ephemeral ports, so that nobody's
 * bind(0) or outgoing connection takes it while the daemon restarts in the middle of a test. */
async function freePort() {
	let lo = 32768;
	try {
		[lo] = fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
	} catch {
		/* the usual Linux default */
	}
	const top = Math.min(lo, 65536) - 1, bottom = Math.max(1024, top - 12000);
	for (;;) {
		const port = bottom + Math.floor(Math.random() * (top - bottom));
		const free = await new Promise((resolve) => {
			const s = net.createServer();
			s.once("error", () => resolve(false));
			s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
		});
		if (free)
			return port;
	}
}

export class World {
	/* simArgs: bandgate-sim's flags (--bands 2, --days 0, ...). env: extra environment for both programs. */
	static async create(simArgs = [], env = {}) {
		const w = new World();
		w.env = { ...process.env, ...env };
		w.dir = fs.mkdtempSync(path.join(os.tmpdir(), "bandgate-browser."));
		fs.writeFileSync(path.join(w.dir, "bus.conf"), BUS_CONF(w.dir));
		w.bus = new Child("dbus-daemon", ["dbus-daemon", "--config-file", path.join(w.dir, "bus.conf"), "--nofork",
			"--nopidfile", "--print-address"], w.env);
		try {
			w.address = (await w.bus.waitLine(/^(unix:.+)$/, 20000))[1];
			w.sim = new Child("bandgate-sim", [process.env.BANDGATE_SIM, "--bus", w.address, ...simArgs], w.env);
			await w.sim.waitLine(/^ready$/, 30000);
		} catch (e) {
			await w.close();
			throw e;
		}
		w.bands = w.sim.lines.filter((l) => l.startsWith("band ")).map((l) => l.split(" ")[1]);
		w.socket = path.join(w.dir, "api.sock");
		w.database = path.join(w.dir, "state", "bandgate.db");
		w.config = path.join(w.dir, "bandgate.conf");
		w.gateway = null;
		w.port = 0;
		w.password = null;
		return w;
	}

	get url() {
		return `http://127.0.0.1:${this.port}`;
	}

	/* ---- the simulator ---- */

	/* One call of io.bandgate.Sim1; args in GVariant text (gdbus parses them by the method's signature). */
	async control(method, ...args) {
		const { stdout } = await execFileP("gdbus", ["call", "--address", this.address, "--dest", "io.bandgate.Sim",
			"--object-path", "/io/bandgate/Sim", "--method", `io.bandgate.Sim1.${method}`, "--", ...args.map(String)],
		{ timeout: 20000 });
		return stdout.trim();
	}

	/* The band as the simulator sees it, for the few keys tests read. */
	async simBand(address) {
		const text = await this.control("GetBand", `'${address}'`);
		const flag = (key) => new RegExp(`'${key}': <(true|false)>`).exec(text)?.[1] === "true";
		const num = (key) => Number(new RegExp(`'${key}': <(?:[a-z0-9]+ )?(-?\\d+)>`).exec(text)?.[1]);
		return { awaitingTap: flag("awaiting-tap"), authenticated: flag("authenticated"), steps: num("steps"),
			clock: num("clock"), tz: num("tz") };
	}

	/* ---- the gateway ---- */

	writeConfig(bands) {
		fs.writeFileSync(this.config, `[gateway]\nadapter = hci0\ndatabase = ${this.database}\n` +
			`bands = ${bands.join(";")}\n[mqtt]\nenabled = false\n[web]\nsocket = ${this.socket}\n` +
			`listen = 127.0.0.1:${this.port}\n`);
	}

	/* Starts bandgate managing bands, with its dashboard on a free port, and waits until the dashboard answers.
	 * A restart keeps the port (the page's origin) and the database. The first start's log holds the dashboard's
	 * password. */
	async startGateway(bands) {
		this.bandList = bands;
		for (let attempt = 1; ; attempt++) {
			if (!this.port)
				this.port = await freePort();
			this.writeConfig(bands);
			this.gateway = new Child("bandgate", [process.env.BANDGATE, "run", "--config", this.config],
				{ ...this.env, DBUS_SYSTEM_BUS_ADDRESS: this.address });
			const up = await waitFor(async () => !this.gateway.running ? "exited" :
				await this.healthz() ? "up" : null, () => `bandgate's dashboard on ${this.url}`, 30000, 50)
				.catch((e) => { e.message += `\n${this.gateway.output()}`; throw e; });
			if (up === "up")
				break;
			/* Someone took the port between our check and the daemon's bind: on a first start, another port. */
			const log = this.gateway.output();
			if (attempt >= 3 || !/cannot serve the dashboard/.test(log) || this.password)
				throw new Error(`bandgate did not start:\n${log}`);
			this.port = 0;
		}
		/* The daemon logs the password before it serves, but the answer on the socket can reach us before the
		 * line in the pipe does: the line is waited for, not looked up. */
		if (!this.password) {
			const m = await this.gateway.waitLine(/the dashboard's password is (\S+)/, 10000)
				.catch((e) => { throw new Error(`bandgate's first start logged no password: ${e.message}`); });
			this.password = m[1];
		}
		return this.gateway;
	}

	/* SIGTERM; resolves to the exit code, after which the log stays readable in lastGatewayOutput. */
	async stopGateway() {
		const code = await this.gateway.stop();
		this.lastGatewayOutput = this.gateway.output();
		this.gateway = null;
		return code;
	}

	healthz() {
		return new Promise((resolve) => {
			const req = http.get({ host: "127.0.0.1", port: this.port, path: "/healthz", timeout: 2000 }, (res) => {
				res.resume();
				resolve(res.statusCode === 200);
			});
			req.on("error", () => resolve(false));
			req.on("timeout", () => req.destroy());
		});
	}

	/* One request on the API socket (the CLI's: no session). Resolves to { status, data }. */
	api(method, urlPath, body) {
		return new Promise((resolve, reject) => {
			const text = body === undefined ? null : JSON.stringify(body);
			const req = http.request({ socketPath: this.socket, method, path: urlPath, timeout: 10000,
				headers: text ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) } : {} },
			(res) => {
				let data = "";
				res.setEncoding("utf8");
				res.on("data", (c) => { data += c; });
				res.on("end", () => {
					let json = null;
					try {
						json = data ? JSON.parse(data) : null;
					} catch {
						json = data;
					}
					resolve({ status: res.statusCode, data: json });
				});
			});
			req.on("error", reject);
			req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer in 10 s`)));
			req.end(text);
		});
	}

	async bandView(address) {
		const r = await this.api("GET", `/api/v1/bands/${idOf(address)}`);
		return r.status === 200 ? r.data : null;
	}

	/* Waits until the gateway says the band is in one of states (through the API), and returns its view. */
	async waitState(address, states, timeoutMs = 60000) {
		states = [].concat(states);
		const seen = [];
		try {
			return await waitFor(async () => {
				const v = await this.bandView(address);
				if (v && seen[seen.length - 1] !== v.state)
					seen.push(v.state);
				return v && states.includes(v.state) ? v : null;
			}, () => `${address} to be ${states.join(" or ")}; it went through ${seen.join(" → ")}`, timeoutMs);
		} catch (e) {
			e.message += `\n${this.gatewayOutput()}`;
			throw e;
		}
	}

	/* The wearer taps whenever the band shows the tap prompt (it holds a new key), until the gateway says the
	 * band is ready. The simulator's auto-tap is off, so that the wait for the tap can be watched on the page;
	 * and a band left waiting too long drops the link and is sent another key, so the wearer may tap again. */
	async tapUntilReady(address, timeoutMs = 90000) {
		const seen = [];
		try {
			return await waitFor(async () => {
				const v = await this.bandView(address);
				if (v && seen[seen.length - 1] !== v.state)
					seen.push(v.state);
				if (v?.state === "ready")
					return v;
				if ((await this.simBand(address)).awaitingTap)
					await this.control("Tap", `'${address}'`).catch(() => {}); /* the prompt just went */
				return null;
			}, () => `${address} to be ready after the tap; it went through ${seen.join(" → ")}`, timeoutMs, 200);
		} catch (e) {
			e.message += `\n${this.gatewayOutput()}`;
			throw e;
		}
	}

	gatewayOutput() {
		return this.gateway ? this.gateway.output() : this.lastGatewayOutput || "";
	}

	/* Stops everything that runs, removes the directory; resolves to { gateway, sim } exit codes. */
	async close() {
		const codes = { gateway: 0, sim: 0 };
		if (this.gateway)
			codes.gateway = await this.stopGateway();
		if (this.sim)
			codes.sim = await this.sim.stop();
		if (this.bus)
			await this.bus.stop();
		fs.rmSync(this.dir, { recursive: true, force: true });
		return codes;
	}
}

export const idOf = (address) => address.replace(/:/g, "").toLowerCase();
