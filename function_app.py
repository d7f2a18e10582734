"""Azure Functions entry point (Python v2 programming model): the blueprints, nothing else."""
import azure.functions as func

from watchdog.functions.background import bp as background_functions
from watchdog.functions.events import bp as event_functions
from watchdog.functions.http import bp as http_functions
from watchdog.functions.timers import bp as timer_functions

app = func.FunctionApp()
app.register_functions(timer_functions)
app.register_functions(http_functions)
app.register_functions(background_functions)
app.register_functions(event_functions)
