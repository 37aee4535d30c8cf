"""The Privacy page's help, written for the people who use the dashboard (developers read
docs/privacy.md)."""

HELP = """
**What leaves a hospital.** Each round a hospital sends the shared model's weights after training
on its own X-rays, how many images it trained on, and how the shared model scored on its own
validation and test images (counts of right and wrong calls). Never an image, a label or one
patient's score.

**Why that is not enough.** A model's weights can still reveal whether a given patient's X-ray
was used to train it. Differential privacy (DP) bounds that, with a number you choose: epsilon.

**Two ways to switch it on** (Train page, *Privacy*):
- *Patient level*: every hospital adds calibrated noise while it trains, so the weights it sends
  hide any one patient's X-ray. This is the protection for patients; it works with the small CNN.
- *Hospital level*: the server adds noise to the average of the hospitals' updates, hiding any one
  hospital's contribution. It needs many hospitals: with three, the noise drowns the model.

**Epsilon.** Smaller is more private. Around 1 is strong; 8 is a common practical choice. The
page shows the epsilon each hospital has spent, round by round.

**What it costs.** Some accuracy, and time: a private round takes several times longer. Train the
same run with and without privacy to see both side by side on this page.

**How to check it.** The membership audit plays the attacker: for each hospital it tries to tell
the images the model trained on from ones it never saw. An attack AUROC of 0.5 is a coin toss.

**What it does not cover.** How many images each hospital holds and its share of pneumonia are
shared as they are; the scores on each hospital's own test images are shared without noise.
A patient with several X-rays is protected about as many times less.
"""
