import { describe, expect, it } from "vitest";
import { MAX_URL_LENGTH, maskTargetUrl, parseIpv4, parseIpv6, targetUrlProblem } from "../../src/delivery/target-url";

function urlOfLength(length: number): string {
	const base = "https://hooks.example.com/";
	return base + "a".repeat(length - base.length);
}

const NOT_AN_IP = "must use a host name, not an IP address";

describe("targetUrlProblem in development", () => {
	it.each([
		"https://hooks.example.com/x",
		"http://hooks.example.com/x",
		"http://localhost:3000/hook",
		"http://127.0.0.1:4000/x",
		"http://127.0.0.1:9/hook",
		"http://[::1]:8080/hook",
		"http://10.0.0.5/hook",
		"http://receiver/hook",
	])("accepts %s, so local receivers work", (url) => {
		expect(targetUrlProblem(url, "development")).toBeNull();
	});

	it.each([
		"ftp://example.com/x",
		"file:///etc/passwd",
		"javascript:alert(1)",
		"data:text/plain,hello",
		"ws://example.com/socket",
		"mailto:ops@example.com",
	])("refuses the non-http scheme of %s", (url) => {
		expect(targetUrlProblem(url, "development")).toBe("must be an http or https URL");
	});

	it.each(["not a url", "/relative/path", "//example.com/x", "", "https://", "http://exa mple.com/"])(
		"refuses %j, which is not an absolute URL",
		(url) => {
			expect(targetUrlProblem(url, "development")).toBe("must be an absolute URL");
		},
	);

	it.each([
		"http://user:pass@localhost:3000/hook",
		"https://user@hooks.example.com/",
		"https://:secret@hooks.example.com/",
		"http://good.com@127.0.0.1:4000/x",
	])("refuses the user name or password in %s", (url) => {
		expect(targetUrlProblem(url, "development")).toBe("must not contain a user name or password");
	});

	it("refuses URLs longer than the limit", () => {
		expect(MAX_URL_LENGTH).toBe(2048);
		expect(targetUrlProblem(urlOfLength(2048), "development")).toBeNull();
		expect(targetUrlProblem(urlOfLength(2049), "development")).toBe("must be at most 2048 characters");
		expect(targetUrlProblem(`http://127.0.0.1:4000/${"a".repeat(3000)}`, "development")).toBe(
			"must be at most 2048 characters",
		);
	});
});

describe("targetUrlProblem in production", () => {
	it.each([
		"https://example.com/hook",
		"https://hooks.slack.com/services/x",
		"https://api.example.co.uk:8443/x",
		"https://hooks.example.com/x",
		"https://api.acme.co.uk:8443/webhooks?tenant=1#frag",
		"https://HOOKS.Example.COM/",
		"https://hooks.example.com./x",
		"https://bücher.example/hook",
		"https://local.example.com/hook",
		"https://localhost.example.com/hook",
		"https://internal.example.com/hook",
		"https://my-localhost.com/hook",
	])("accepts %s", (url) => {
		expect(targetUrlProblem(url, "production")).toBeNull();
	});

	it.each([
		"http://hooks.example.com/x",
		"http://example.com:443/hook",
		"ftp://example.com/x",
		"javascript:alert(1)",
		"file:///etc/passwd",
	])("refuses %s, which is not https", (url) => {
		expect(targetUrlProblem(url, "production")).toBe("must be an https URL");
	});

	it.each([
		"https://user:pass@hooks.example.com/x",
		"https://good.com@127.0.0.1/hook",
		"https://hooks.example.com:443@evil.example/hook",
		"https://token@hooks.example.com/x",
	])("refuses the user name or password in %s", (url) => {
		expect(targetUrlProblem(url, "production")).toBe("must not contain a user name or password");
	});

	it.each([
		["https://127.0.0.1/hook", "loopback", "127.0.0.1"],
		["https://127.255.255.254/hook", "loopback", "127.255.255.254"],
		["https://127.0.0.1./hook", "loopback", "127.0.0.1"],
		["https://2130706433/hook", "loopback", "127.0.0.1"],
		["https://0x7f000001/hook", "loopback", "127.0.0.1"],
		["https://0x7f.1/hook", "loopback", "127.0.0.1"],
		["https://017700000001/hook", "loopback", "127.0.0.1"],
		["https://0177.0.0.1/hook", "loopback", "127.0.0.1"],
		["https://127.1/hook", "loopback", "127.0.0.1"],
		["https://%31%32%37.0.0.1/hook", "loopback", "127.0.0.1"],
		["https://%30%78%37%66.1/hook", "loopback", "127.0.0.1"],
		["https://１２７.０.０.１/hook", "loopback", "127.0.0.1"],
		["https://10.0.0.1/hook", "private", "10.0.0.1"],
		["https://10.1/hook", "private", "10.0.0.1"],
		["https://167772161/hook", "private", "10.0.0.1"],
		["https://172.16.0.1/hook", "private", "172.16.0.1"],
		["https://172.31.255.255/hook", "private", "172.31.255.255"],
		["https://192.168.1.1/hook", "private", "192.168.1.1"],
		["https://0xc0.0xa8.1.1/hook", "private", "192.168.1.1"],
		["https://169.254.1.1/hook", "link-local", "169.254.1.1"],
		["https://100.64.0.1/hook", "carrier-grade NAT", "100.64.0.1"],
		["https://100.127.255.255/hook", "carrier-grade NAT", "100.127.255.255"],
		["https://169.254.169.254/latest/meta-data/", "metadata-service", "169.254.169.254"],
		["https://0xa9fea9fe/latest/meta-data/", "metadata-service", "169.254.169.254"],
		["https://100.100.100.200/latest/meta-data/", "metadata-service", "100.100.100.200"],
		["https://224.0.0.1/hook", "multicast", "224.0.0.1"],
		["https://239.255.255.250/hook", "multicast", "239.255.255.250"],
		["https://0.0.0.0/hook", "unspecified", "0.0.0.0"],
		["https://0/hook", "unspecified", "0.0.0.0"],
		["https://0.1.2.3/hook", "reserved", "0.1.2.3"],
		["https://192.0.0.8/hook", "reserved", "192.0.0.8"],
		["https://192.88.99.1/hook", "reserved", "192.88.99.1"],
		["https://240.0.0.1/hook", "reserved", "240.0.0.1"],
		["https://255.255.255.254/hook", "reserved", "255.255.255.254"],
		["https://255.255.255.255/hook", "broadcast", "255.255.255.255"],
		["https://4294967295/hook", "broadcast", "255.255.255.255"],
		["https://198.18.0.1/hook", "benchmarking", "198.18.0.1"],
		["https://198.19.255.255/hook", "benchmarking", "198.19.255.255"],
		["https://192.0.2.1/hook", "documentation", "192.0.2.1"],
		["https://198.51.100.7/hook", "documentation", "198.51.100.7"],
		["https://203.0.113.9/hook", "documentation", "203.0.113.9"],
	])("refuses %s as a %s address", (url, kind, shown) => {
		const article = /^[aeiou]/.test(kind) ? "an" : "a";
		expect(targetUrlProblem(url, "production")).toBe(`must not target ${article} ${kind} address (${shown})`);
	});

	it.each([
		["https://[::1]/hook", "loopback", "::1"],
		["https://[0:0:0:0:0:0:0:1]/hook", "loopback", "::1"],
		["https://[::]/hook", "unspecified", "::"],
		["https://[::ffff:127.0.0.1]/hook", "loopback", "::ffff:7f00:1, which embeds 127.0.0.1"],
		["https://[::ffff:7f00:1]/hook", "loopback", "::ffff:7f00:1, which embeds 127.0.0.1"],
		["https://[0:0:0:0:0:ffff:127.0.0.1]/hook", "loopback", "::ffff:7f00:1, which embeds 127.0.0.1"],
		["https://[::ffff:10.0.0.1]/hook", "private", "::ffff:a00:1, which embeds 10.0.0.1"],
		["https://[::ffff:169.254.169.254]/x", "metadata-service", "::ffff:a9fe:a9fe, which embeds 169.254.169.254"],
		["https://[::ffff:0.0.0.0]/hook", "unspecified", "::ffff:0:0, which embeds 0.0.0.0"],
		["https://[::127.0.0.1]/hook", "loopback", "::7f00:1, which embeds 127.0.0.1"],
		["https://[::2]/hook", "reserved", "::2, which embeds 0.0.0.2"],
		["https://[64:ff9b::127.0.0.1]/hook", "loopback", "64:ff9b::7f00:1, which embeds 127.0.0.1"],
		["https://[64:ff9b::c0a8:101]/hook", "private", "64:ff9b::c0a8:101, which embeds 192.168.1.1"],
		["https://[64:ff9b::a9fe:a9fe]/x", "metadata-service", "64:ff9b::a9fe:a9fe, which embeds 169.254.169.254"],
		["https://[64:ff9b:1::1]/hook", "private", "64:ff9b:1::1"],
		["https://[2002:7f00:1::]/hook", "loopback", "2002:7f00:1::, which embeds 127.0.0.1"],
		["https://[2002:c0a8:101::1]/hook", "private", "2002:c0a8:101::1, which embeds 192.168.1.1"],
		["https://[2002:a9fe:a9fe::]/x", "metadata-service", "2002:a9fe:a9fe::, which embeds 169.254.169.254"],
		[
			"https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",
			"loopback",
			"2001:0:4136:e378:8000:63bf:80ff:fffe, which embeds 127.0.0.1",
		],
		["https://[fc00::1]/hook", "private", "fc00::1"],
		["https://[fd12:3456:789a::1]/hook", "private", "fd12:3456:789a::1"],
		["https://[fec0::1]/hook", "private", "fec0::1"],
		["https://[fd00:ec2::254]/latest/meta-data/", "metadata-service", "fd00:ec2::254"],
		["https://[fe80::1]/hook", "link-local", "fe80::1"],
		["https://[FEBF::1]/hook", "link-local", "febf::1"],
		["https://[ff02::1]/hook", "multicast", "ff02::1"],
		["https://[ff05::1:3]/hook", "multicast", "ff05::1:3"],
		["https://[100::1]/hook", "reserved", "100::1"],
		["https://[4000::1]/hook", "reserved", "4000::1"],
		["https://[2001:2::1]/hook", "benchmarking", "2001:2::1"],
		["https://[2001:db8::1]/hook", "documentation", "2001:db8::1"],
		["https://[2001:0DB8:0:0:0:0:0:1]/hook", "documentation", "2001:db8::1"],
		["https://[3fff::1]/hook", "documentation", "3fff::1"],
	])("refuses %s as a %s address", (url, kind, shown) => {
		const article = /^[aeiou]/.test(kind) ? "an" : "a";
		expect(targetUrlProblem(url, "production")).toBe(`must not target ${article} ${kind} address (${shown})`);
	});

	it.each([
		"https://8.8.8.8/hook",
		"https://1.1.1.1/hook",
		"https://134744072/hook",
		"https://172.15.255.255/hook",
		"https://172.32.0.1/hook",
		"https://100.63.255.255/hook",
		"https://100.128.0.1/hook",
		"https://198.17.255.255/hook",
		"https://198.20.0.1/hook",
		"https://223.255.255.255/hook",
		"https://[2606:4700:4700::1111]/hook",
		"https://[::ffff:8.8.8.8]/hook",
		"https://[64:ff9b::8.8.8.8]/hook",
		"https://[2002:808:808::1]/hook",
	])("refuses the public IP literal in %s, which Workers cannot fetch", (url) => {
		expect(targetUrlProblem(url, "production")).toBe(NOT_AN_IP);
	});

	it.each([
		["https://localhost/hook", "loopback", "localhost"],
		["https://LOCALHOST./hook", "loopback", "localhost."],
		["https://localhost../hook", "loopback", "localhost.."],
		["https://api.localhost/hook", "loopback", "api.localhost"],
		["https://a.b.localhost./hook", "loopback", "a.b.localhost."],
		["https://local%68ost/hook", "loopback", "localhost"],
		["https://%6C%6F%63%61%6C%68%6F%73%74/hook", "loopback", "localhost"],
		["https://ｌｏｃａｌｈｏｓｔ/hook", "loopback", "localhost"],
		["https://metadata.google.internal/computeMetadata/v1/", "metadata-service", "metadata.google.internal"],
		["https://METADATA.GOOGLE.INTERNAL./computeMetadata/v1/", "metadata-service", "metadata.google.internal."],
		["https://metadata/hook", "metadata-service", "metadata"],
		["https://metadata./hook", "metadata-service", "metadata."],
		["https://instance-data/latest/meta-data/", "metadata-service", "instance-data"],
		["https://instance-data.ec2.internal/latest/", "metadata-service", "instance-data.ec2.internal"],
		["https://printer.local/hook", "local-network", "printer.local"],
		["https://printer.local./hook", "local-network", "printer.local."],
		["https://db.internal/hook", "local-network", "db.internal"],
		["https://api.corp.internal/hook", "local-network", "api.corp.internal"],
		["https://nas.home.arpa/hook", "local-network", "nas.home.arpa"],
		["https://home.arpa/hook", "local-network", "home.arpa"],
		["https://router.localdomain/hook", "local-network", "router.localdomain"],
		["https://localhost.localdomain/hook", "local-network", "localhost.localdomain"],
	])("refuses %s as a %s host", (url, kind, shown) => {
		expect(targetUrlProblem(url, "production")).toBe(`must not target a ${kind} host (${shown})`);
	});

	it.each([
		["https://intranet/hook", "intranet"],
		["https://intranet./hook", "intranet."],
		["https://receiver:8443/hook", "receiver"],
		["https://local/hook", "local"],
		["https://localdomain/hook", "localdomain"],
	])("refuses the single-label host in %s", (url, shown) => {
		expect(targetUrlProblem(url, "production")).toBe(`must use a fully qualified host name (${shown})`);
	});

	it.each(["not a url", "/relative/path", ""])("refuses %j, which is not an absolute URL", (url) => {
		expect(targetUrlProblem(url, "production")).toBe("must be an absolute URL");
	});

	it("refuses URLs longer than the limit", () => {
		expect(targetUrlProblem(urlOfLength(2048), "production")).toBeNull();
		expect(targetUrlProblem(urlOfLength(2049), "production")).toBe("must be at most 2048 characters");
	});

	it.each(["staging", "", "Development", "production"])("treats the environment %j as production", (environment) => {
		expect(targetUrlProblem("http://localhost:3000/hook", environment)).toBe("must be an https URL");
		expect(targetUrlProblem("https://127.0.0.1/hook", environment)).toBe(
			"must not target a loopback address (127.0.0.1)",
		);
	});
});

describe("parseIpv4", () => {
	it.each([
		["0.0.0.0", 0],
		["127.0.0.1", 0x7f000001],
		["10.20.30.40", 0x0a141e28],
		["255.255.255.255", 0xffffffff],
	])("reads %s", (text, value) => {
		expect(parseIpv4(text)).toBe(value);
	});

	// The URL parser normalizes the other notations before this runs; anything it did not is not an address here.
	it.each([
		"",
		"127.1",
		"0x7f.0.0.1",
		"01.2.3.4",
		"256.0.0.1",
		"1.2.3.4.5",
		"1.2.3.",
		"1.2.3.-4",
		" 1.2.3.4",
		"1.2.3.4 ",
	])("refuses %j", (text) => {
		expect(parseIpv4(text)).toBeNull();
	});
});

describe("parseIpv6", () => {
	it.each([
		["::", 0n],
		["::1", 1n],
		["1::", 1n << 112n],
		["1:2:3:4:5:6:7:8", 0x0001_0002_0003_0004_0005_0006_0007_0008n],
		["1::8", 0x0001_0000_0000_0000_0000_0000_0000_0008n],
		["1:2:3:4:5:6:7::", 0x0001_0002_0003_0004_0005_0006_0007_0000n],
		["::2:3:4:5:6:7:8", 0x0000_0002_0003_0004_0005_0006_0007_0008n],
		["FFFF::", 0xffffn << 112n],
		["::ffff:127.0.0.1", 0xffff_7f00_0001n],
		["::127.0.0.1", 0x7f00_0001n],
		["64:ff9b::10.0.0.1", 0x0064_ff9b_0000_0000_0000_0000_0a00_0001n],
		["1:2:3:4:5:6:1.2.3.4", 0x0001_0002_0003_0004_0005_0006_0102_0304n],
		["fd00:ec2::254", 0xfd00_0ec2_0000_0000_0000_0000_0000_0254n],
	])("reads %s", (text, value) => {
		expect(parseIpv6(text)).toBe(value);
	});

	it.each([
		"",
		":",
		":::",
		"1:::2",
		"1::2::3",
		":1::",
		"1::2:",
		":1:2:3:4:5:6:7",
		"1:2:3:4:5:6:7",
		"1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7::8",
		"12345::",
		"g::",
		"::1.2.3",
		"::256.0.0.1",
		"::01.2.3.4",
		"1.2.3.4::",
		"::1.2.3.4:5",
		"1:2:3:4:5:6:7:1.2.3.4",
		"fe80::1%eth0",
	])("refuses %j", (text) => {
		expect(parseIpv6(text)).toBeNull();
	});
});

describe("maskTargetUrl", () => {
	const SLACK_TOKEN = "xoxwT0k3nT0k3nT0k3nAbCd";

	it.each([
		// A Slack or Discord webhook's token is in its path: only the host and the last 4 characters remain.
		[`https://hooks.slack.com/services/T0001/B0001/${SLACK_TOKEN}`, "https://hooks.slack.com/…AbCd"],
		["https://discord.com/api/webhooks/123456789/aBcDeFgHiJkLmNoP-qrstuv", "https://discord.com/…stuv"],
		// A token in the query or a password before the host goes the same way.
		["https://example.com/cb?token=s3cr3t-s3cr3t-s3cr3t", "https://example.com/…cr3t"],
		["https://user:pa55word@example.com/hooks/receive-orders", "https://example.com/…ders"],
		["https://user:pa55word@example.com/", "https://example.com/…"],
		// The port stays with the host: it says where deliveries go.
		["http://127.0.0.1:4100/webhooks/khaleeji-receiver", "http://127.0.0.1:4100/…iver"],
		// A short rest shows no tail, which would be most of it.
		["https://example.com/cb?token=abc", "https://example.com/…"],
		["https://example.com/hooks", "https://example.com/…"],
		// Nothing after the host: nothing to hide.
		["https://example.com", "https://example.com/"],
		["https://example.com/", "https://example.com/"],
	])("masks %s as %s", (url, masked) => {
		expect(maskTargetUrl(url)).toBe(masked);
	});

	it("leaves nothing of what it cannot read as an http(s) URL", () => {
		expect(maskTargetUrl("not a url with a s3cr3t")).toBe("…");
		expect(maskTargetUrl("ftp://example.com/s3cr3t/s3cr3t/s3cr3t")).toBe("…");
	});

	it("leaves a masked URL as it is, so masking twice shows the same", () => {
		for (const url of [
			`https://hooks.slack.com/services/T0001/B0001/${SLACK_TOKEN}`,
			"https://example.com/cb?token=abc",
			"https://example.com",
		]) {
			const masked = maskTargetUrl(url);
			expect(maskTargetUrl(masked)).toBe(masked);
		}
	});
});
