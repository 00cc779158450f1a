from voltlab.cli import app

app()
