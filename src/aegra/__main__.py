from aegra.cli import app

app()
