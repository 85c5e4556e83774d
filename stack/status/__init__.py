"""The live status of `python -m stack up`: what is fetched and computed (model), how it is drawn (render), and
the loop that keeps it on the terminal, or prints one summary line per interval off a terminal (screen)."""
