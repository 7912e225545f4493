"""The rule table matches iamport's official Swagger file for every endpoint served."""

import os
import unittest

import json

import sim_rules

HERE = os.path.dirname(os.path.abspath(__file__))
CANDIDATES = [
    os.path.join(HERE, "..", "..", "..", "shared", "iamport", "v1.openapi.json"),  # ../shared
    "/work/shared/iamport/v1.openapi.json",
]
SPEC_PATH = next((p for p in CANDIDATES if os.path.exists(p)), None)


@unittest.skipIf(SPEC_PATH is None, "v1.openapi.json is not present")
class RuleTableMatchesSwagger(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(SPEC_PATH, encoding="utf-8") as handle:
            cls.spec = json.load(handle)

    def parameters(self, method, path):
        operation = self.spec["paths"][path][method.lower()]
        return {p["name"]: p for p in operation.get("parameters", [])}

    def test_every_endpoint_exists_in_the_spec(self):
        for method, path in sim_rules.RULES:
            with self.subTest(endpoint=f"{method} {path}"):
                self.assertIn(path, self.spec["paths"])
                self.assertIn(method.lower(), self.spec["paths"][path])

    def test_same_parameters_types_required_and_lengths(self):
        for (method, path), rules in sim_rules.RULES.items():
            official = self.parameters(method, path)
            with self.subTest(endpoint=f"{method} {path}"):
                self.assertEqual(set(rules), set(official), "parameter names differ")
                for name, rule in rules.items():
                    spec = official[name]
                    self.assertEqual(rule.location, spec["in"], name)
                    self.assertEqual(rule.type, spec.get("type"), name)
                    self.assertEqual(rule.required, bool(spec.get("required")), name)
                    self.assertEqual(rule.max_length, spec.get("maxLength"), name)
                    self.assertEqual(rule.enum, tuple(spec["enum"]) if "enum" in spec else None,
                                     name)

    def test_deviations_are_only_the_documented_ones(self):
        for endpoint, extra in sim_rules.LEGACY_FIELDS.items():
            self.assertEqual(set(extra), {"pg"}, endpoint)
            self.assertNotIn("pg", self.parameters(*endpoint))
        for endpoint, groups in sim_rules.ONE_OF_REQUIRED.items():
            for group in groups:
                for name in group:
                    self.assertIn(name, sim_rules.effective_rules(endpoint), endpoint)


class Validation(unittest.TestCase):
    VBANK = ("POST", "/vbanks")

    def valid_vbank(self):
        return {"merchant_uid": "m1", "amount": 1000, "vbank_code": "004",
                "vbank_due": 2000000000, "channel_key": "ck"}

    def test_valid_body_passes(self):
        self.assertIsNone(sim_rules.validate(self.VBANK, self.valid_vbank(), {}))

    def test_unknown_field_is_rejected(self):
        body = dict(self.valid_vbank(), surprise=1)
        self.assertIn("surprise", sim_rules.validate(self.VBANK, body, {}))

    def test_missing_required_and_channel(self):
        body = self.valid_vbank()
        del body["vbank_due"]
        self.assertIn("vbank_due", sim_rules.validate(self.VBANK, body, {}))
        body = self.valid_vbank()
        del body["channel_key"]
        self.assertIsNotNone(sim_rules.validate(self.VBANK, body, {}))
        body["pg"] = "nice"
        self.assertIsNone(sim_rules.validate(self.VBANK, body, {}))

    def test_types_and_lengths(self):
        self.assertIsNotNone(sim_rules.validate(
            self.VBANK, dict(self.valid_vbank(), amount="1000"), {}))
        self.assertIsNotNone(sim_rules.validate(
            self.VBANK, dict(self.valid_vbank(), vbank_due=1.5), {}))
        self.assertIsNotNone(sim_rules.validate(
            self.VBANK, dict(self.valid_vbank(), merchant_uid="x" * 41), {}))
        self.assertIsNone(sim_rules.validate(
            self.VBANK, dict(self.valid_vbank(), vbank_holder="가" * 16), {}))
        self.assertIsNotNone(sim_rules.validate(
            self.VBANK, dict(self.valid_vbank(), notice_url="http://x"), {}))

    def test_cancel_needs_imp_uid_or_merchant_uid(self):
        endpoint = ("POST", "/payments/cancel")
        self.assertIsNotNone(sim_rules.validate(endpoint, {"amount": 1}, {}))
        self.assertIsNone(sim_rules.validate(endpoint, {"merchant_uid": "m"}, {}))


if __name__ == "__main__":
    unittest.main()
