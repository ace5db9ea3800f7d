"""Models: visual extractor, language-model backbones, prompt fusion, cloud and edge models, baselines."""
