"""hwcomponents plug-in: energy/area/latency models of the ISSCC 2023 16.2 chip parts."""
