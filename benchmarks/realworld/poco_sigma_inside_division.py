"""A POCO-style pose loss with log(sigma) inside the division by sigma: sigma collapses and the loss runs to -inf."""
# source: https://github.com/saidwivedi/POCO/issues/10
# root: negative_loss

import math

import torch
from torch import nn

from tb_lossdiag import DiagWriter

EXPECT = ("negative_loss",)
# A loss falling without bound can also read as running away; once sigma underflows to 0 the loss is
# -inf (log(0) / 1e-9) and NaN follows in the gradients.
ALLOW = ("loss_divergence", "nonfinite_loss", "nonfinite_gradient", "nonfinite_activation",
         "log_of_nonpositive", "division_by_zero")
ONSET = 0
STEPS = 80
amp = 1.0  # the scale the issue divides sigma by; its value is not shown there


class PoseHead(nn.Module):
    """Features -> 24x3 body pose, 24x3 pose sigmas (Softplus, as POCO's uncertainty head), 49 keypoints."""

    def __init__(self, feat_dim=256):
        super().__init__()
        self.fc_pose = nn.Linear(feat_dim, 72)
        self.uncert_fc1 = nn.Linear(feat_dim, 72)
        self.uncert_softplus1 = nn.Softplus()
        self.fc_joints = nn.Linear(72, 49 * 3)

    def forward(self, feats):
        body_pose_pred = self.fc_pose(feats)
        body_pose_sigma = self.uncert_softplus1(self.uncert_fc1(feats))
        joints = self.fc_joints(body_pose_pred).view(-1, 49, 3)
        return body_pose_pred, body_pose_sigma, joints


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    feats_all = torch.randn(512, 256, generator=g)
    pose_all = torch.tanh(feats_all[:, :72]) * 0.5  # a learnable pose per image
    joints_mix = torch.randn(72, 49 * 3, generator=g)
    joints_all = (pose_all @ joints_mix).view(-1, 49, 3)
    has_gt_all = (torch.rand(512, generator=g) < 0.7).float()
    model = PoseHead()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # the issue does not give it; its 200+ iterations, shortened
    criterion_keypoints = nn.MSELoss()
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(steps):
        idx = torch.randint(0, 512, (32,), generator=g)
        feats, body_pose_gt, gt_joints, has_gt = feats_all[idx], pose_all[idx], joints_all[idx], has_gt_all[idx]
        body_pose_pred, body_pose_sigma, pred_joints = model(feats)
        loss_keypoints_3d = 5. * criterion_keypoints(pred_joints, gt_joints)
        loss_keypoints_2d = 2.5 * criterion_keypoints(pred_joints[:, :, :2], gt_joints[:, :, :2])

        loss_body_pose = ((torch.log(body_pose_sigma/amp) + torch.abs(body_pose_gt - body_pose_pred)) / (math.sqrt(2) * body_pose_sigma + 1e-9))

        loss_body_pose = loss_body_pose[has_gt==1].sum()

        loss_all = loss_keypoints_3d + loss_keypoints_2d + loss_body_pose
        optimizer.zero_grad()
        loss_all.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss_all.item(), step)
    writer.close()
