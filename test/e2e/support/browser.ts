/**
 * A real browser for the dashboard tests: Debian's Chromium driven by
 * playwright-core, launched by path (Playwright never downloads a browser
 * here; `.ci/run` installs the `chromium` package when it is missing).
 */

import { webcrypto } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Browser, type BrowserContext, chromium, type Locator, type Page, type Response } from "playwright-core";
import { done, notYet, type Poll, waitFor } from "./wait";

/** Where the browser is; CHROMIUM_PATH overrides it on machines that keep it elsewhere. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Every page and screenshot is taken at this size, so the committed screenshots stay comparable. */
export const VIEWPORT = { width: 1280, height: 800 } as const;

const SCREENSHOT_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "docs", "screenshots");

export async function launchChromium(): Promise<Browser> {
	return chromium.launch({
		executablePath: CHROMIUM_PATH,
		// Containers and CI runners often lack the namespaces Chromium's sandbox needs.
		args: ["--no-sandbox"],
	});
}

/**
 * One browser profile (cookies, clipboard permission) with a page, that
 * records everything the console said about the Content Security Policy and
 * every uncaught script error, on every page it opens.
 */
export class BrowserProfile {
	readonly cspViolations: string[] = [];
	readonly scriptErrors: string[] = [];

	private constructor(
		readonly context: BrowserContext,
		readonly page: Page,
		readonly baseUrl: string,
	) {}

	static async open(browser: Browser, baseUrl: string): Promise<BrowserProfile> {
		const context = await browser.newContext({
			baseURL: baseUrl,
			viewport: VIEWPORT,
			deviceScaleFactor: 1,
			locale: "en-US",
			timezoneId: "UTC",
			colorScheme: "light",
			reducedMotion: "reduce",
		});
		// The origin of the worker, so the page's Copy button may write to the clipboard and the test may read it.
		await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
		const page = await context.newPage();
		const profile = new BrowserProfile(context, page, baseUrl);
		context.on("console", (message) => {
			const text = message.text();
			if (/content security policy/i.test(text)) profile.cspViolations.push(`${message.page()?.url() ?? "?"}: ${text}`);
		});
		page.on("pageerror", (error) => {
			profile.scriptErrors.push(`${page.url()}: ${error.message}`);
		});
		return profile;
	}

	/** Opens `path` and returns the final answer (after redirects); fails when there is none. */
	async goto(path: string): Promise<Response> {
		const response = await this.page.goto(path, { waitUntil: "load" });
		if (response === null) throw new Error(`no response for ${path}`);
		return response;
	}

	/** Follows a portal link as its recipient does: the link's page, then its one button. */
	async openPortal(url: string): Promise<void> {
		await this.goto(url);
		await Promise.all([
			this.page.waitForURL((shown) => !shown.pathname.startsWith("/portal/"), { waitUntil: "load" }),
			this.page.getByRole("button", { name: "Open the portal" }).click(),
		]);
	}

	/** The path (and query) of the page the browser shows. */
	path(): string {
		const url = new URL(this.page.url());
		return `${url.pathname}${url.search}`;
	}

	/** The page's h1, which the layout renders from the page title. */
	async heading(): Promise<string> {
		return ((await this.page.locator("main h1").first().textContent()) ?? "").trim();
	}

	async close(): Promise<void> {
		await this.context.close();
	}
}

/**
 * Signs in on the sign-in page with `apiKey` (the page must show it) and
 * waits until the browser has left it.
 */
export async function signIn(page: Page, apiKey: string): Promise<void> {
	await page.getByLabel("API key").fill(apiKey);
	await Promise.all([
		page.waitForURL((url) => !url.pathname.endsWith("/sign-in"), { waitUntil: "load" }),
		page.getByRole("button", { name: "Sign in" }).click(),
	]);
}

/**
 * Server-rendered pages change only when loaded again: reloads `page` until
 * `locator` matches something (and `accept`, if given, likes its text).
 */
export async function reloadUntil(
	page: Page,
	locator: Locator,
	description: string,
	{ timeoutMs = 20_000, accept }: { timeoutMs?: number; accept?: (text: string) => boolean } = {},
): Promise<string> {
	let first = true;
	return waitFor(
		description,
		async (): Promise<Poll<string>> => {
			if (!first) await page.reload({ waitUntil: "load" });
			first = false;
			const count = await locator.count();
			if (count === 0) return notYet(`nothing matched on ${page.url()}`);
			const text = ((await locator.first().textContent()) ?? "").trim();
			return accept === undefined || accept(text) ? done(text) : notYet(text);
		},
		{ timeoutMs, intervalMs: 300 },
	);
}

/** Whether this run writes the screenshots under docs/screenshots (UPDATE_SCREENSHOTS=1). */
export const UPDATING_SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === "1";

/**
 * Screenshot of the viewport for the README. Taken on every run (so a page
 * that cannot be drawn fails the test) but written only when
 * UPDATE_SCREENSHOTS=1, so a plain test run leaves the tree as it was.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
	// The caret blinks and would make two runs' pictures differ.
	const options = { fullPage: false, animations: "disabled", caret: "hide" } as const;
	if (!UPDATING_SCREENSHOTS) {
		await page.screenshot(options);
		return;
	}
	await mkdir(SCREENSHOT_DIR, { recursive: true });
	await page.screenshot({ ...options, path: join(SCREENSHOT_DIR, `${name}.png`) });
}

function base64Url(bytes: Uint8Array): string {
	return Buffer.from(bytes).toString("base64url");
}

/**
 * A portal token made the way src/dashboard/tokens.ts makes them (HMAC-SHA256
 * with a key derived by HKDF from ADMIN_API_KEY, purpose "portal-link").
 * Only for expiry: the API will not issue a link shorter than 60 s, and a test
 * that waits a minute for one to run out would be most of the suite's time.
 */
export async function mintPortalToken(
	adminKey: string,
	claims: { tenant: string; ro: boolean; exp: number },
): Promise<string> {
	const encoder = new TextEncoder();
	const material = await webcrypto.subtle.importKey("raw", encoder.encode(adminKey), "HKDF", false, ["deriveKey"]);
	const key = await webcrypto.subtle.deriveKey(
		{ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode("edgehook portal-link v1") },
		material,
		{ name: "HMAC", hash: "SHA-256" },
		false,
		["sign"],
	);
	const payload = base64Url(encoder.encode(JSON.stringify({ ...claims, nonce: "e2e" })));
	const signature = new Uint8Array(await webcrypto.subtle.sign("HMAC", key, encoder.encode(payload)));
	return `${payload}.${base64Url(signature)}`;
}
