"""The dataset catalog: the dataset versions jobs wrote (registered with their acks), what
they read, and the samples and profiles dataset workers compute of them."""
