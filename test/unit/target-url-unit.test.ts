import { describe, expect, it } from "vitest";
import { MAX_URL_LENGTH, targetUrlProblem } from "../../src/delivery/target-url";

function urlOfLength(length: number): string {
	const base = "https://hooks.example.com/";
	return base + "a".repeat(length - base.length);
}

describe("targetUrlProblem in development", () => {
	it.each([
		"https://hooks.example.com/x",
		"http://hooks.example.com/x",
		"http://localhost:3000/hook",
		"http://127.0.0.1:9/hook",
		"http://[::1]:8080/hook",
		"http://receiver/hook",
	])("accepts %s, so local receivers work", (url) => {
		expect(targetUrlProblem(url, "development")).toBeNull();
	});

	it.each(["ftp://example.com/x", "file:///etc/passwd", "javascript:alert(1)", "not a url", "/relative/path", ""])(
		"refuses %j",
		(url) => {
			expect(targetUrlProblem(url, "development")).toEqual(expect.any(String));
		},
	);

	it("refuses credentials even in development", () => {
		expect(targetUrlProblem("http://user:pass@localhost:3000/hook", "development")).toMatch(/credentials/);
		expect(targetUrlProblem("https://user@hooks.example.com/", "development")).toMatch(/credentials/);
	});

	it("refuses URLs longer than the limit", () => {
		expect(MAX_URL_LENGTH).toBe(2048);
		expect(targetUrlProblem(urlOfLength(2048), "development")).toBeNull();
		expect(targetUrlProblem(urlOfLength(2049), "development")).toEqual(expect.any(String));
	});
});

describe("targetUrlProblem in production", () => {
	it.each([
		"https://hooks.example.com/x",
		"https://api.acme.co.uk:8443/webhooks?tenant=1#frag",
		"https://HOOKS.Example.COM/",
	])("accepts %s", (url) => {
		expect(targetUrlProblem(url, "production")).toBeNull();
	});

	it("refuses plain http", () => {
		expect(targetUrlProblem("http://hooks.example.com/x", "production")).toMatch(/https/);
	});

	it.each([
		"https://127.0.0.1/hook",
		"https://10.0.0.5/hook",
		"https://10.1/hook",
		"https://172.16.0.1/hook",
		"https://192.168.1.1/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://0.0.0.0/hook",
		"https://0x7f000001/hook",
		"https://2130706433/hook",
		"https://[::1]/hook",
		"https://[fd00::1]/hook",
		"https://[::ffff:127.0.0.1]/hook",
	])("refuses the IP literal in %s", (url) => {
		expect(targetUrlProblem(url, "production")).toMatch(/IP address/);
	});

	it.each([
		"https://localhost/hook",
		"https://LOCALHOST./hook",
		"https://api.localhost/hook",
		"https://metadata.google.internal/computeMetadata/v1/",
		"https://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/",
		"https://metadata/hook",
		"https://printer.local/hook",
	])("refuses the local or metadata host in %s", (url) => {
		expect(targetUrlProblem(url, "production")).toMatch(/local, private or metadata/);
	});

	it("refuses a host name that is not fully qualified", () => {
		expect(targetUrlProblem("https://intranet/hook", "production")).toMatch(/fully qualified/);
	});

	it("refuses credentials", () => {
		expect(targetUrlProblem("https://user:pass@hooks.example.com/x", "production")).toMatch(/credentials/);
	});

	it("refuses URLs longer than the limit", () => {
		expect(targetUrlProblem(urlOfLength(2048), "production")).toBeNull();
		expect(targetUrlProblem(urlOfLength(2049), "production")).toMatch(/2048/);
	});

	it("treats any environment other than development as production", () => {
		expect(targetUrlProblem("http://localhost:3000/hook", "staging")).toEqual(expect.any(String));
		expect(targetUrlProblem("http://localhost:3000/hook", "")).toEqual(expect.any(String));
	});
});
