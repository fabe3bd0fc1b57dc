from tests.cardkit import cps_token, insi_pki, pcscd, private_pcscd, slots  # noqa: F401 (fixtures)
