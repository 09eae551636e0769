"""AiCore's Airbnb nightly-price MLP (hidden 15-5, SGD lr 0.1) on raw features and prices: the gradients explode from the first steps."""
# source: https://github.com/DanRHoward/modelling-airbnbs-property-listing-dataset- (neural_network.py,
#   commit bbe2a0d; README "Simple search for the best neural network": each structure trained at lr 0.1,
#   0.01 and 0.001, lr 0.1 the best for two of the three)
# root: exploding_gradient unnormalized_input
# The loop is neural_network.py's train(), kept as written: backward, step, zero_grad(), then
# writer.add_scalar('loss', loss, batch_idx) with the loss tensor, so the gradients are already cleared
# when the loss is logged. The bug: ten raw features (amenities_count ~35 +- 14, ratings ~4.9, guests up
# to 16) and a raw Price_Night label (~154 +- 129, up to 1132) under MSE, no scaling of either: the first
# MSE is ~1e4 and its gradient norm ~2e3, so SGD at the README's lr 0.1 throws the weights far off (step 1:
# loss ~1e14, gradient norm ~9e12); at 0.01 the jump is ~1e8. Evidence the author met it: find_best_nn()
# skips every config whose test RMSE is 'nan', and the README calls the loss curves "incredibly erratic"
# (smoothed to compare). Stand-ins: a synthetic table with the cleaned CSV's column means, spreads and
# ranges (824 rows, a right-skewed price loosely tied to size) instead of clean_tabular_data.csv; the
# optimiser comes from nn_config.yaml, which the repository does not hold: torch.optim.SGD is assumed;
# os.chdir and the model/metrics saving after training left out.

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, random_split

from tb_lossdiag import DiagWriter

from ._common import generator

EXPECT = ("exploding_gradient",)
# What exploding gradients at these scales bring along: the loss running off (or to NaN) and back when
# the ReLUs die, the NaN gradients and inputs of the scale the root names.
ALLOW = ("loss_divergence", "loss_spike", "loss_oscillation", "nonfinite_loss", "nonfinite_gradient",
         "unnormalized_input", "dead_activation", "frozen_parameters", "loss_plateau")
ONSET = 1  # step 0's gradient norm is ~2e3; its update makes step 1's ~9e12
STEPS = 120  # two epochs of 60 batches of 10
NN_CONFIG = {'optimiser': 'torch.optim.SGD', 'learning_rate': 0.1, 'hidden_layer_width': [15, 5]}
COLUMNS = ['guests', 'beds', 'bathrooms', 'Cleanliness_rating', 'Accuracy_rating', 'Communication_rating',
           'Check-in_rating', 'Value_rating', 'amenities_count', 'bedrooms']


def synthetic_listings(n=824, seed=0):
    """clean_tabular_data.csv's ten feature columns and Price_Night, as float64 like pandas reads them."""
    g = generator(seed)
    bedrooms = (1 + 5 * torch.rand(n, generator=g, dtype=torch.float64) ** 3).floor()
    guests = (2 * bedrooms + torch.randint(-1, 2, (n,), generator=g)).clamp(1, 16)
    beds = (bedrooms + torch.randint(0, 3, (n,), generator=g)).clamp(1, 17)
    bathrooms = (bedrooms / 2 + torch.randint(0, 2, (n,), generator=g)).round().clamp(0, 10)
    ratings = (5 - 0.45 * torch.rand(n, 5, generator=g, dtype=torch.float64) ** 2).round(decimals=2)
    amenities = (35.5 + 14.2 * torch.randn(n, generator=g, dtype=torch.float64)).round().clamp(3, 84)
    # right-skewed like the real prices (a few listings near 1,000 a night), larger for more guests
    price = (4.3 + 0.12 * guests + 0.65 * torch.randn(n, generator=g, dtype=torch.float64)).exp().round().clamp(8, 1132)
    features = torch.stack([guests, beds, bathrooms, *ratings.T, amenities, bedrooms], 1)
    return features, price


class AirbnbNightlyPriceImageDataset(Dataset):
    def __init__(self):
        super().__init__()
        self.features, self.price = synthetic_listings()  # pd.read_csv('clean_tabular_data.csv')

    def __getitem__(self, index):
        features = self.features[index]  # torch.tensor(row[[...the ten COLUMNS...]])
        label = self.price[index]  # torch.tensor(row['Price_Night'])
        return (features, label)

    def __len__(self):
        length = len(self.features)
        return length


class LinearRegression(torch.nn.Module):
    def __init__(self, nn_config):
        super().__init__()

        hidden_layers = nn_config['hidden_layer_width']  # list of respective width of layer

        self.layers = torch.nn.Sequential(  # Sequential function used to create a multi layered neural network
            torch.nn.Linear(10, hidden_layers[0]),  # initial layer of neural network mapped to a layer of 15 nodes via a linear transform
            torch.nn.ReLU(),  # initialise ReLU activator function
            torch.nn.Linear(hidden_layers[0], hidden_layers[1]),  # 15 node layer maps to a 5 node layer via linear transform
            torch.nn.ReLU(),  # initialise ReLU activator function
            torch.nn.Linear(hidden_layers[1], 1)  # 5 node layer maps to the desired output node via linear transform
        )  # Checked Nrural Network of structure 5, 10 and 15-5

    def forward(self, features):
        return self.layers(features)


def train(model, train_loader, config, epochs=50, logdir=None, steps=None):
    optimiser_method = config['optimiser']
    optimiser_method = eval(optimiser_method)  # to convert string into optimiser method

    learn_rate = config['learning_rate']

    optimiser = optimiser_method(model.parameters(), lr=learn_rate)  # BEWARE not to set learning-rate (lr) too high!
    writer = DiagWriter(logdir)  # SummaryWriter()
    batch_idx = 0

    for epoch in range(epochs):
        for batch in train_loader:
            features, labels = batch
            features = features.to(torch.float32)
            labels = labels.to(torch.float32).reshape(-1, 1)
            prediction = model(features)
            loss = F.mse_loss(prediction, labels)
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()
            writer.add_scalar('loss', loss, batch_idx)
            batch_idx += 1
            if batch_idx == steps:  # the benchmark's length; the script runs 50 epochs
                writer.close()
                return model
    writer.close()
    return model


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    dataset = AirbnbNightlyPriceImageDataset()

    train_set, test_set = random_split(dataset, [round(len(dataset) * 0.9), round(len(dataset) * 0.1)])
    train_set, valid_set = random_split(train_set, [round(len(train_set) * 0.8), round(len(train_set) * 0.2)])

    train_loader = DataLoader(train_set, batch_size=10, shuffle=True)
    model = LinearRegression(NN_CONFIG)
    train(model, train_loader, NN_CONFIG, logdir=logdir, steps=steps)
