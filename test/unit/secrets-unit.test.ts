import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { buildSignedHeaders } from "../../src/delivery/request";
import { MAX_PREVIOUS_SECRETS, previousSecretsAfterRotation, signingSecrets } from "../../src/delivery/secrets";
import { generateSecret, signBodyHex } from "../../src/delivery/signing";

const NOW = 1_800_000_000_000;

describe("secret rotation", () => {
	it("keeps the replaced secret signing for the grace period, newest first", () => {
		const previous = previousSecretsAfterRotation("whsec_old", "[]", 3600, NOW);
		expect(previous).toEqual([{ secret: "whsec_old", expires_at: NOW + 3_600_000 }]);
		expect(signingSecrets("whsec_new", JSON.stringify(previous), NOW)).toEqual(["whsec_new", "whsec_old"]);
		expect(signingSecrets("whsec_new", JSON.stringify(previous), NOW + 3_600_000)).toEqual(["whsec_new"]);
	});

	it("drops the old secret at once with a grace period of 0, and expired ones on every rotation", () => {
		expect(previousSecretsAfterRotation("whsec_old", "[]", 0, NOW)).toEqual([]);
		const stale = JSON.stringify([{ secret: "whsec_stale", expires_at: NOW - 1 }]);
		expect(previousSecretsAfterRotation("whsec_old", stale, 60, NOW).map((entry) => entry.secret)).toEqual([
			"whsec_old",
		]);
	});

	it("keeps at most a few replaced secrets, so rotations cannot grow the header without bound", () => {
		let previous = "[]";
		for (let i = 0; i < MAX_PREVIOUS_SECRETS + 3; i++) {
			previous = JSON.stringify(previousSecretsAfterRotation(`whsec_${i}`, previous, 3600, NOW + i));
		}
		const kept = JSON.parse(previous) as { secret: string }[];
		expect(kept).toHaveLength(MAX_PREVIOUS_SECRETS);
		expect(kept[0]?.secret).toBe(`whsec_${MAX_PREVIOUS_SECRETS + 2}`);
	});

	it("signs webhook-signature with every valid secret and the hex header with the newest only", async () => {
		const [newest, older] = [generateSecret(), generateSecret()];
		const body = '{"id":"evt_1","type":"a","created":1,"created_at":"x","data":{}}';
		const timestampSeconds = Math.floor(Date.now() / 1000);
		const headers = await buildSignedHeaders({
			eventId: "evt_1",
			body,
			secrets: [newest, older],
			timestampSeconds,
			tenant: {},
			customHeaders: {},
		});
		expect(headers["webhook-signature"]?.split(" ")).toHaveLength(2);
		for (const secret of [newest, older]) {
			expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
		}
		expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
		expect(headers["X-Webhook-Signature"]).toBe(await signBodyHex(newest, body, "sha256="));
	});
});
