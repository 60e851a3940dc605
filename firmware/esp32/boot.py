# ESP32 boot: nothing to do before main.py; Wi-Fi is brought up by app.App with a timeout.
