"""engagegen: engagement-driven content generation with language models on simulated social networks.

Data flows one way: network -> engagement -> reward <- scoring <- generation -> training ->
experiments -> report. Each concept is one subpackage with a small public surface.
"""

from engagegen.network.graph import SocialNetwork

__version__ = "0.1.0"
__all__ = ["SocialNetwork", "__version__"]
