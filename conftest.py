# Registers the grading plugin (common/grading.py): --target, --todo, --grades-json and the scoreboard.
pytest_plugins = ["common.grading"]
