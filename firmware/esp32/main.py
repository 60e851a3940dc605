# Runs at power-on (after boot.py). Stops only on a fatal error, which the watchdog resets.
import app

app.main()
