import { createHmac } from "node:crypto";
import { Webhook as StandardWebhook } from "standardwebhooks";
import { Webhook as SvixWebhook } from "svix";
import { describe, expect, it } from "vitest";
import {
	bytesToBase64,
	generateSecret,
	signBodyHex,
	signStandardWebhooks,
	standardWebhooksKey,
} from "../../src/delivery/signing";

/** The test vector published with the Standard Webhooks spec. */
const SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP = 1614265330;
const SPEC_BODY = '{"test": 2432232314}';
const SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/**
 * Hex vectors computed once, outside this codebase, with
 * `python3 -c 'import hmac,hashlib; print(hmac.new(SECRET.encode(), BODY.encode(), hashlib.sha256).hexdigest())'`.
 */
const HEX_VECTORS = [
	{
		secret: SPEC_SECRET,
		body: SPEC_BODY,
		hex: "80ec8a89ce3cd22133a1066caecb4d04fea7467657c8514d717ec42c38a5c94c",
	},
	{
		secret: SPEC_SECRET,
		body: '{"name":"Zoë","emoji":"🎉"}',
		hex: "863f9c395c9c28c78881d8b893d92cfabd3bdcf2f16183732332304c814217d6",
	},
	{
		secret: "sécret-ключ",
		body: '{"a":1}',
		hex: "d03c67cac05b31eaecfeb64c2bc7cdd88477340dcbef34aba81b1bdc0b19d3d7",
	},
] as const;

/** Computed once with Python: base64(HMAC-SHA256(b64decode(secret), "msg_1.1700000000." + body)). */
const UNICODE_SW_VECTOR = {
	msgId: "msg_1",
	timestamp: 1700000000,
	body: '{"name":"Zoë","emoji":"🎉"}',
	signature: "v1,Zmg3nrV2GNMyfn2FnHrvsrQmtGrTISPEeSEacls+tyw=",
} as const;

const TEXT_PIECES = [
	"a",
	"Z",
	"0",
	" ",
	'"',
	"\\",
	"\n",
	"\t",
	"é",
	"ß",
	"ключ",
	"漢字",
	"🎉",
	"👩‍💻",
	"\u2028",
	"{}",
	"<>&",
];

function randomInt(maxExclusive: number): number {
	const [value = 0] = crypto.getRandomValues(new Uint32Array(1));
	return value % maxExclusive;
}

function randomText(): string {
	let out = "";
	const length = 1 + randomInt(40);
	for (let i = 0; i < length; i++) out += TEXT_PIECES[randomInt(TEXT_PIECES.length)] ?? "";
	return out;
}

/** A random secret in the `whsec_` format, with a key length other than generateSecret's 32 bytes. */
function randomSecret(bytes: number): string {
	return `whsec_${bytesToBase64(crypto.getRandomValues(new Uint8Array(bytes)))}`;
}

function randomCases(count: number): { secret: string; msgId: string; body: string }[] {
	return Array.from({ length: count }, (_, i) => ({
		secret: i % 2 === 0 ? generateSecret() : randomSecret(16 + randomInt(48)),
		msgId: `evt_${crypto.randomUUID()}`,
		body: JSON.stringify({ text: randomText(), n: randomInt(1_000_000), nested: { list: [randomText(), i] } }),
	}));
}

function nowSeconds(): number {
	return Math.floor(Date.now() / 1000);
}

describe("signStandardWebhooks", () => {
	it("reproduces the Standard Webhooks spec test vector", async () => {
		expect(await signStandardWebhooks(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)).toBe(SPEC_SIGNATURE);
	});

	it("reproduces a vector with a non-ASCII body (signs the UTF-8 bytes)", async () => {
		const { msgId, timestamp, body, signature } = UNICODE_SW_VECTOR;
		expect(await signStandardWebhooks(SPEC_SECRET, msgId, timestamp, body)).toBe(signature);
	});

	it("accepts the bare base64 key without the whsec_ prefix", async () => {
		const bare = SPEC_SECRET.slice("whsec_".length);
		expect(await signStandardWebhooks(bare, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY)).toBe(SPEC_SIGNATURE);
	});

	it("changes when the id, timestamp, body or secret changes", async () => {
		const variants = await Promise.all([
			signStandardWebhooks(SPEC_SECRET, `${SPEC_MSG_ID}x`, SPEC_TIMESTAMP, SPEC_BODY),
			signStandardWebhooks(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP + 1, SPEC_BODY),
			signStandardWebhooks(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, '{"test":2432232314}'),
			signStandardWebhooks(generateSecret(), SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY),
		]);
		for (const variant of variants) {
			expect(variant).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
			expect(variant).not.toBe(SPEC_SIGNATURE);
		}
		expect(new Set(variants).size).toBe(variants.length);
	});

	it("throws on a secret that is not whsec_ + base64", async () => {
		await expect(signStandardWebhooks("whsec_not base64!", "msg_1", 1, "{}")).rejects.toThrow();
		await expect(signStandardWebhooks("whsec_", "msg_1", 1, "{}")).rejects.toThrow();
	});

	it("matches the standardwebhooks library's sign for random secrets and unicode bodies", async () => {
		for (const { secret, msgId, body } of randomCases(24)) {
			const timestamp = 1_600_000_000 + randomInt(200_000_000);
			const expected = new StandardWebhook(secret).sign(msgId, new Date(timestamp * 1000), body);
			expect(await signStandardWebhooks(secret, msgId, timestamp, body)).toBe(expected);
		}
	});

	it("passes the standardwebhooks library's verify, which rejects a tampered body", async () => {
		for (const { secret, msgId, body } of randomCases(12)) {
			const timestamp = nowSeconds();
			const headers = {
				"webhook-id": msgId,
				"webhook-timestamp": String(timestamp),
				"webhook-signature": await signStandardWebhooks(secret, msgId, timestamp, body),
			};
			const receiver = new StandardWebhook(secret);
			expect(receiver.verify(body, headers)).toEqual(JSON.parse(body));
			expect(() => receiver.verify(`${body} `, headers)).toThrow();
			expect(() => receiver.verify(body, { ...headers, "webhook-id": `${msgId}x` })).toThrow();
		}
	});

	it("passes the svix library's verify under both header spellings", async () => {
		for (const { secret, msgId, body } of randomCases(12)) {
			const timestamp = nowSeconds();
			const signature = await signStandardWebhooks(secret, msgId, timestamp, body);
			const receiver = new SvixWebhook(secret);
			const parsed: unknown = JSON.parse(body);
			expect(
				receiver.verify(body, {
					"webhook-id": msgId,
					"webhook-timestamp": String(timestamp),
					"webhook-signature": signature,
				}),
			).toEqual(parsed);
			expect(
				receiver.verify(body, { "svix-id": msgId, "svix-timestamp": String(timestamp), "svix-signature": signature }),
			).toEqual(parsed);
			expect(() =>
				new SvixWebhook(generateSecret()).verify(body, {
					"svix-id": msgId,
					"svix-timestamp": String(timestamp),
					"svix-signature": signature,
				}),
			).toThrow();
		}
	});

	it("produces values that verify when joined space-separated during a rotation", async () => {
		const oldSecret = generateSecret();
		const newSecret = generateSecret();
		const body = JSON.stringify({ rotated: "🔑" });
		const timestamp = nowSeconds();
		const header = [
			await signStandardWebhooks(oldSecret, "msg_rot", timestamp, body),
			await signStandardWebhooks(newSecret, "msg_rot", timestamp, body),
		].join(" ");
		const headers = { "webhook-id": "msg_rot", "webhook-timestamp": String(timestamp), "webhook-signature": header };
		expect(new StandardWebhook(oldSecret).verify(body, headers)).toEqual({ rotated: "🔑" });
		expect(new StandardWebhook(newSecret).verify(body, headers)).toEqual({ rotated: "🔑" });
		expect(() => new StandardWebhook(generateSecret()).verify(body, headers)).toThrow();
	});

	it("keeps signing correctly once more secrets were used than the key cache holds", async () => {
		const first = await signStandardWebhooks(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY);
		for (let i = 0; i < 1100; i++) await signBodyHex(`cache-filler-${i}`, "{}", "");
		const again = await signStandardWebhooks(SPEC_SECRET, SPEC_MSG_ID, SPEC_TIMESTAMP, SPEC_BODY);
		expect([first, again]).toEqual([SPEC_SIGNATURE, SPEC_SIGNATURE]);
	});
});

describe("signBodyHex", () => {
	it("reproduces fixed vectors with the sha256= prefix and without one", async () => {
		for (const { secret, body, hex } of HEX_VECTORS) {
			expect(await signBodyHex(secret, body, "sha256=")).toBe(`sha256=${hex}`);
			expect(await signBodyHex(secret, body, "")).toBe(hex);
		}
	});

	it("keys with the whole secret string, not the decoded Standard Webhooks key", async () => {
		const bareKey = SPEC_SECRET.slice("whsec_".length);
		const [vector] = HEX_VECTORS;
		expect(await signBodyHex(bareKey, SPEC_BODY, "")).not.toBe(vector.hex);
	});

	it("does not share cached keys with Standard Webhooks signing of the same secret", async () => {
		const secret = generateSecret();
		const body = '{"shared":"secret"}';
		const hexFirst = await signBodyHex(secret, body, "");
		const swAfter = await signStandardWebhooks(secret, "msg_x", 1700000000, body);
		expect(swAfter).toBe(new StandardWebhook(secret).sign("msg_x", new Date(1700000000 * 1000), body));
		expect(await signBodyHex(secret, body, "")).toBe(hexFirst);
		expect(hexFirst).toBe(createHmac("sha256", secret).update(body, "utf8").digest("hex"));
	});

	it("matches node:crypto createHmac for random secrets and unicode bodies", async () => {
		for (const { secret, body } of randomCases(24)) {
			const expected = createHmac("sha256", Buffer.from(secret, "utf8"))
				.update(Buffer.from(body, "utf8"))
				.digest("hex");
			expect(await signBodyHex(secret, body, "sha256=")).toBe(`sha256=${expected}`);
		}
		const plain = `plain ${randomText()}`;
		const expectedPlain = createHmac("sha256", Buffer.from(plain, "utf8"))
			.update(Buffer.from(plain, "utf8"))
			.digest("hex");
		expect(await signBodyHex(plain, plain, "")).toBe(expectedPlain);
	});

	it("emits 64 lowercase hex characters after the prefix", async () => {
		expect(await signBodyHex(generateSecret(), randomText(), "sha256=")).toMatch(/^sha256=[0-9a-f]{64}$/);
		expect(await signBodyHex(generateSecret(), randomText(), "")).toMatch(/^[0-9a-f]{64}$/);
	});
});

describe("standardWebhooksKey", () => {
	it("decodes the base64 part after whsec_", () => {
		const key = standardWebhooksKey(SPEC_SECRET);
		expect(key).not.toBeNull();
		expect(key?.length).toBe(24);
		expect(bytesToBase64(key ?? new Uint8Array())).toBe("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
		expect(Array.from(standardWebhooksKey("whsec_AAEC/w==") ?? [])).toEqual([0, 1, 2, 255]);
	});

	it("returns null for secrets that are not base64", () => {
		for (const bad of ["whsec_", "", "whsec_not base64!", "whsec_abc", "whsec_ab=c", "whsec_abcd===", "whsec_ab-_"]) {
			expect(standardWebhooksKey(bad), bad).toBeNull();
		}
	});
});

describe("generateSecret", () => {
	it("makes whsec_ + base64 of 32 random bytes, different every time", () => {
		const secrets = Array.from({ length: 20 }, () => generateSecret());
		for (const secret of secrets) {
			expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
			expect(standardWebhooksKey(secret)?.length).toBe(32);
		}
		expect(new Set(secrets).size).toBe(secrets.length);
	});
});
