"""leadworker: a RabbitMQ consumer daemon that turns scrape requests into clean, scored sales leads."""

__version__ = "0.1.0"
