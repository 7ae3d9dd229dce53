"""The test suite as one package (tests.<area>), so that a test folder may share its name
with the code it tests (tests/dashboard and the dashboard package) without shadowing it."""
