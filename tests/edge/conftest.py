from tests.edge.figures import SCHEMATHESIS


def pytest_terminal_summary(terminalreporter):
    if SCHEMATHESIS:
        terminalreporter.section("schemathesis")
        for line in SCHEMATHESIS:
            terminalreporter.write_line(line)
