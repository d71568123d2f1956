"""The teachable core, readable in one sitting, in this order:

1. :mod:`.guard`     - a call leaves the model as it found it (eval mode, one thread, flags back)
2. :mod:`.layers`    - which layer: names, the auto-pick, what cannot be explained
3. :mod:`.hooks`     - the forward hook that keeps a layer's output away from in-place ops;
   :mod:`.reshape`   - reading transformer tokens and channels-last outputs as (B, K, h, w)
4. :mod:`.targets`   - what to explain: a class, classes, or a score function
5. :mod:`.base`      - one call: context, the base class, normalise and upsample
6. one file per method: :mod:`.cam`, :mod:`.grad_cam`, :mod:`.grad_cam_plus_plus`, :mod:`.xgrad_cam`,
   :mod:`.hires_cam`, :mod:`.layer_cam`, :mod:`.ablation_cam`, :mod:`.eigen_cam`, :mod:`.relu_rules` + :mod:`.input_gradient`,
   :mod:`.guided_grad_cam`, :mod:`.integrated_gradients`
7. :mod:`.registry`  - the one list of methods
(:mod:`.progress`: the progress bar of long calls.)

Nothing here imports the zoo, evaluation or the apps; they are built on top of it.
"""
