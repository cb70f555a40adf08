#!/usr/bin/env python
"""Build the two Humbatova et al. (ICSE 2020) codebooks from the replication data.

    python scripts/build_humbatova_codebook.py [--data DIR] [--out DIR] [--report]

Writes ``codebooks/humbatova2020.yaml`` (the fault taxonomy) and
``codebooks/humbatova-screening.yaml`` (the evaluators' screening outcome).
Deterministic: same inputs, byte-identical output.

Inputs (``--data``, default ``/work/shared/data/humbatova_dlfaults_taxonomy``),
copied from the replication package github.com/dlfaults/taxonomy (CC BY 4.0):

* ``taxonomy_tree_compiled.csv`` - compiled tree (106 leaves; level1..level3, leaf)
* ``labelling_rounds_all_combined.csv`` - the six "Round N All" sheets concatenated
* ``Manual_Labelling/Analysed_Artifacts/round_*.xlsx`` - "Relevant" sheets with the
  "Taxonomy Cat" codes
* ``Manual_Labelling/SO_init/*.csv`` - Stack Overflow titles (for example descriptions)
* ``Interviews/interview_open_coding.xlsx`` - accepted interview codes
* ``Interviews/Interview_Tags.xlsx`` - interview tags with counts and status
* ``Survey/participant_info_and_responses.xlsx`` - names of the inner categories

Definitions and criteria are written by us (ptmcoder team), not quoted from the paper.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import openpyxl
import yaml

DEFAULT_DATA = Path("/work/shared/data/humbatova_dlfaults_taxonomy")
ROOT = Path(__file__).resolve().parent.parent

CITATION = (
    "Humbatova, Jahangirova, Bavota, Riccio, Stocco, Tonella. Taxonomy of Real Faults in "
    "Deep Learning Systems. ICSE 2020. Replication package github.com/dlfaults/taxonomy "
    "(CC BY 4.0)."
)

# --------------------------------------------------------------------------------------
# Category codes. The "Taxonomy Cat" column of the round sheets' "Relevant" tabs uses
# 1.1, 1.2.1-1.2.3, 2, 3, 4.1, 4.2.1-4.2.3, 5.1-5.6, 5.4.1, 5.4.2. The codes 1, 1.2, 4,
# 4.2, 5 and 5.4 are the prefixes of those codes. Training Process has no code in the
# sheets (no labelled artefact was assigned to it) and gets a readable id.
# --------------------------------------------------------------------------------------
CODES = {
    "Model": "1",
    "Model Type & Properties": "1.1",
    "Layers": "1.2",
    "Missing/Redundant/Wrong Layer": "1.2.1",
    "Layer Properties": "1.2.2",
    "Activation Function": "1.2.3",
    "GPU Usage": "2",
    "API": "3",
    "Tensors & Inputs": "4",
    "Wrong Tensor Shape": "4.1",
    "Wrong Input": "4.2",
    "Wrong Shape of Input Data": "4.2.1",
    "Wrong Type of Input Data": "4.2.2",
    "Wrong Input Format": "4.2.3",
    "Training": "5",
    "Hyperparameters": "5.1",
    "Loss Function": "5.2",
    "Validation/Testing": "5.3",
    "Preprocessing of Training Data": "5.4",
    "Missing Preprocessing": "5.4.1",
    "Wrong Preprocessing": "5.4.2",
    "Optimiser": "5.5",
    "Training Data Quality": "5.6",
}
CODE_IDS_PREFIX = "T"  # "T4.2.1": never parsed as a number by YAML/CSV/pandas
READABLE_CATEGORY_IDS = {"Training Process": "training-process"}
# codes used in the sheets only as prefixes (their names come from the figure summaries)
PREFIX_ONLY_CODES = {"1", "1.2", "4", "4.2", "5", "5.4"}
# category names that appear verbatim (or nearly) as survey column headers
SURVEY_NAMES = {
    "Hyperparameters": "Hyperparameters",
    "Validation/Testing": "Validation/Testing",
    "Preprocessing of Training Data": "Preprocessing of Training Data",
    "Optimiser": "OptimiserProblems",
    "Training Data Quality": "Training Data",
    "Training Process": "Training Process",
    "Loss Function": "Loss Function",
    "Model Type & Properties": "Model Type & Properties",
    "Missing/Redundant/Wrong Layer": "Missing/Redundant/Wrong Layer",
    "Layer Properties": "Layer Properties",
    "Activation Function": "Activation Function",
    "Wrong Input": "Wrong Input",
    "Wrong Tensor Shape": "Wrong Tensor Shape",
    "GPU Usage": "GPU Usage",
    "API": "APIProblems",
}

# --------------------------------------------------------------------------------------
# Our own definitions and criteria: name -> (definition, include, exclude)
# --------------------------------------------------------------------------------------
D: dict[str, tuple[str, list[str], list[str]]] = {
    # ---- top level
    "Model": (
        "Faults in the design of the DL model itself: the kind of model chosen, its overall "
        "structure and initialisation, and the type and configuration of its layers.",
        [
            "The fix changes the model definition (model type, architecture, layers, layer "
            "parameters, activation functions, initialisation)."
        ],
        [
            "The model is fine but the data fed to it has the wrong shape, type or format "
            "(Tensors & Inputs).",
            "The fault is in how the model is trained (loss, optimiser, hyperparameters, data) "
            "(Training).",
        ],
    ),
    "Tensors & Inputs": (
        "Faults in the data that flows into and through the computation: tensors with the "
        "wrong shape, or inputs of the wrong shape, type or format passed to layers, methods "
        "or API calls.",
        [
            "The fix reshapes, squeezes, indexes, casts or reformats a tensor or the input "
            "data, while the model definition stays as it is."
        ],
        [
            "The fix changes the declared shape or size of a layer (Model > Layers > Layer "
            "Properties).",
            "The data is wrong in content or quality rather than in shape/type/format "
            "(Training > Training Data Quality or Preprocessing of Training Data).",
        ],
    ),
    "Training": (
        "Faults in the training procedure: hyperparameters, loss function, validation and "
        "testing, preprocessing and quality of the training data, optimiser, and the "
        "management of the training process.",
        [
            "The model and its inputs are well-formed but training behaves badly or the "
            "trained model performs poorly because of a training decision."
        ],
        [
            "Crashes due to a shape/type mismatch of tensors (Tensors & Inputs).",
            "Misuse of a framework API that is not about a training decision (API).",
        ],
    ),
    "GPU Usage": (
        "Faults in the use of GPU devices: choosing or referencing the device, moving data "
        "and models between CPU and GPU, sharing state and parallelising across GPUs.",
        [
            "The fix concerns device placement, CPU-GPU transfer, CUDA tensors or multi-GPU "
            "parallelism."
        ],
        [
            "Out-of-memory faults caused by the size of the model or of the data "
            "(Training > Training Process).",
            "Generic driver/CUDA installation problems (not a DL fault; see the screening "
            "codebook).",
        ],
    ),
    "API": (
        "Faults caused by using a DL framework API in a way that does not fit its intended "
        "use: wrong or deprecated calls, missing calls, wrong order of calls, wrong "
        "arguments or scoping, and graph/variable management errors.",
        [
            "The root cause is how a framework function or object is called, and no more "
            "specific category (model, tensors/inputs, training, GPU) describes it."
        ],
        [
            "Bugs inside the framework itself (false positive in the screening codebook).",
            "A wrong shape or type passed to an API method (Tensors & Inputs > Wrong Input).",
        ],
    ),
    # ---- Model
    "Model Type & Properties": (
        "Faults that concern the model as a whole: an unsuitable kind of model, a wrong or "
        "suboptimal architecture, or wrong initialisation of the model or its weights.",
        [
            "The fix replaces the model type, redesigns the architecture, or changes how the "
            "model or its weights are initialised."
        ],
        ["The fix adds, removes or reconfigures one specific layer (Layers)."],
    ),
    "Wrong model initialisation": (
        "The model (or its underlying graph/session objects) is created or initialised "
        "incorrectly, so it does not start from the intended state.",
        ["The model object itself is set up wrongly before training or inference."],
        [
            "Only the initial weight values are wrong (Wrong weights initialisation).",
            "Uninitialised framework variables (API > Missing global variables initialisation).",
        ],
    ),
    "Wrong weights initialisation": (
        "The initial values of weights or parameters are inappropriate (e.g. wrong sign, "
        "wrong scheme or scale), which hampers or prevents learning.",
        ["The fix changes the weight initialiser or the initial parameter values."],
        ["The model object is constructed wrongly (Wrong model initialisation)."],
    ),
    "Multiple initialisations of CNN": (
        "The network is initialised more than once (e.g. re-created inside a loop), "
        "discarding learned state or wasting resources.",
        ["The model is re-instantiated where a single instance should be reused."],
        [],
    ),
    "Wrong selection of model": (
        "A model type unsuited to the task is used (e.g. a regressor for a classification "
        "task, an LSTM where a GRU or a CNN fits).",
        ["The fix swaps the kind of model or network."],
        [
            "The kind of model is right but its layers or size are wrong (Wrong network "
            "architecture / Suboptimal network structure)."
        ],
    ),
    "Wrong network architecture": (
        "The overall architecture of the network is wrongly designed for the problem.",
        ["The fix redesigns how the network is composed, beyond a single layer."],
        ["Only the size/depth is off (Suboptimal network structure)."],
    ),
    "Suboptimal network structure": (
        "The network is of the right kind but its structure (number of layers, depth, "
        "width) is poorly chosen, leading to poor performance or inefficiency.",
        ["Too many or too few layers or components; structural tuning improves results."],
        [
            "One identifiable layer is missing or superfluous (Missing/Redundant/Wrong Layer).",
            "Only the number of neurons of a layer is off (Layer Properties).",
        ],
    ),
    "Layers": (
        "Faults located in individual layers: a layer is missing, redundant or of the "
        "wrong type, a layer is misconfigured, or its activation function is wrong.",
        ["The fix touches one or a few specific layers of the model definition."],
        [
            "Architecture-wide changes (Model Type & Properties).",
            "The layer is right but receives wrongly shaped data (Tensors & Inputs).",
        ],
    ),
    "Activation Function": (
        "A layer uses an inappropriate activation function or lacks a needed one.",
        ["The fix changes, adds or removes the activation of a layer."],
        ["A separate softmax layer is missing or redundant (Missing/Redundant/Wrong Layer)."],
    ),
    "Wrong type of activation function": (
        "A layer uses an activation function unsuited to its role (e.g. tanh where ReLU "
        "or a linear output is needed).",
        ["The fix replaces one activation function with another."],
        ["The activation is absent altogether (Missing softmax/ReLU activation function)."],
    ),
    "Missing softmax activation function": (
        "A layer that should produce a probability distribution lacks a softmax activation.",
        ["The fix adds softmax as the activation of an existing layer."],
        ["A dedicated softmax layer must be added (Missing softmax layer)."],
    ),
    "Missing ReLU activation function": (
        "A layer that needs a ReLU non-linearity has none.",
        ["The fix adds a ReLU activation to a layer."],
        [],
    ),
    "Layer Properties": (
        "A layer of the right type is present but is configured wrongly: declared input or "
        "output shape, input size, filter size, bias, pooling, or number of neurons.",
        ["The fix changes a parameter in the definition of a layer."],
        [
            "The layer definition is right but the data fed to it is wrong (Tensors & "
            "Inputs > Wrong Input)."
        ],
    ),
    "Wrong input sample size for a layer": (
        "The input size declared for a layer (e.g. in_features of a linear layer) does not "
        "match the size of the samples it receives.",
        ["The fix changes the input-size argument of the layer."],
        ["The fix changes the data instead (Wrong shape of input data for a layer)."],
    ),
    "Wrong defined input shape": (
        "The input shape declared for a layer or model (e.g. input_shape) is wrong.",
        ["The fix corrects the declared input shape in the layer definition."],
        ["The data has to be reshaped instead (Wrong shape of input data for a layer)."],
    ),
    "Wrong defined output shape": (
        "The output shape a layer is configured to produce is wrong (e.g. a recurrent "
        "layer returning sequences where a single value is needed).",
        ["The fix changes the layer's output shape or output-related arguments."],
        [],
    ),
    "Wrong defined input and output shape": (
        "Both the declared input and output shapes of a layer are wrong.",
        ["The fix corrects input and output dimensions of the same layer."],
        [],
    ),
    "Wrong filter size for a convolutional layer": (
        "A convolutional layer is given an inappropriate kernel/filter size.",
        ["The fix changes the kernel/filter size of a convolution."],
        [],
    ),
    "Missing bias (bias needed in a layer)": (
        "A layer is defined without a bias term that it needs.",
        ["The fix enables or adds the bias of a layer."],
        [],
    ),
    "Suboptimal number of neurons in a layer": (
        "A layer has too many or too few units for the task, hurting performance.",
        ["The fix tunes the number of units/neurons of a layer."],
        ["The number of layers is off (Suboptimal network structure)."],
    ),
    "Wrong amount and type of pooling in a convolutional layer": (
        "The pooling applied in a convolutional part of the network is of the wrong kind "
        "or amount.",
        ["The fix changes how much/which pooling the convolutional layer uses."],
        [
            "A separate pooling layer is missing or of the wrong type (Missing average "
            "pooling layer / Wrong type of pooling layer)."
        ],
    ),
    "Layers' dimensions mismatch": (
        "Connected layers have incompatible dimensions, so the output of one does not fit "
        "the input of the next.",
        ["The fix aligns the dimensions of two or more connected layers."],
        ["Only one layer's declared input size is wrong (Wrong input sample size for a layer)."],
    ),
    "Missing/Redundant/Wrong Layer": (
        "A layer that the model needs is absent, a layer that should not be there is "
        "present, or a layer of the wrong type is used.",
        ["The fix adds, removes or replaces a whole layer."],
        ["The layer is right but misconfigured (Layer Properties)."],
    ),
    "Missing dropout layer": (
        "A dropout layer is needed (typically against overfitting) but missing.",
        ["The fix adds dropout."],
        [],
    ),
    "Missing normalisation layer": (
        "A normalisation layer (e.g. batch normalisation) is needed but missing.",
        ["The fix adds a normalisation layer."],
        [
            "The data rather than a layer must be normalised (Missing preprocessing step "
            "(normalisation))."
        ],
    ),
    "Missing softmax layer": (
        "A softmax layer is needed at the output but missing.",
        ["The fix adds a softmax layer."],
        ["Softmax is added as a layer's activation (Missing softmax activation function)."],
    ),
    "Redundant softmax layer": (
        "A softmax layer is applied where it should not be (e.g. before a loss that "
        "already applies softmax).",
        ["The fix removes a softmax layer."],
        [],
    ),
    "Wrong layer type": (
        "A layer of an unsuitable type is used (e.g. a recurrent or convolutional layer "
        "where another type fits the data).",
        ["The fix replaces a layer with one of a different type."],
        ["The whole model type is wrong (Wrong selection of model)."],
    ),
    "Missing flatten layer": (
        "A flatten layer is needed between multi-dimensional and dense layers but missing.",
        ["The fix adds a flatten layer."],
        [],
    ),
    "Missing dense layer": (
        "A dense (fully connected) layer that the model needs is missing.",
        ["The fix adds one or more dense layers."],
        [],
    ),
    "Missing average pooling layer": (
        "An average pooling layer that the model needs is missing.",
        ["The fix adds an average pooling layer."],
        [],
    ),
    "Wrong type of pooling layer": (
        "A pooling layer of the wrong kind is used (e.g. max instead of average).",
        ["The fix swaps the pooling layer type."],
        [],
    ),
    # ---- Tensors & Inputs
    "Wrong Tensor Shape": (
        "An operation on tensors produces or consumes a tensor of the wrong shape, e.g. "
        "a missing squeeze, wrong indexing or wrong padding in the computation.",
        [
            "The fix changes how a tensor is shaped inside the computation (squeeze, "
            "reshape, indexing, concatenation, padding)."
        ],
        [
            "The shape problem is in the data handed to a layer or method (Wrong Input > "
            "Wrong Shape of Input Data).",
            "The shape declared in a layer definition is wrong (Layer Properties).",
        ],
    ),
    "Wrong tensor shape (missing squeeze)": (
        "A tensor keeps a superfluous dimension of size one because a squeeze is missing.",
        ["The fix adds a squeeze (or equivalent removal of a singleton dimension)."],
        [],
    ),
    "Wrong tensor shape (wrong indexing)": (
        "A tensor is indexed or sliced wrongly, giving a tensor of the wrong shape.",
        ["The fix corrects indices or slicing of a tensor."],
        [],
    ),
    "Wrong tensor shape (wrong output padding)": (
        "Wrong padding of an operation's output (e.g. in a transposed convolution) gives "
        "a tensor of the wrong shape.",
        ["The fix changes output padding."],
        [],
    ),
    "Wrong tensor shape (other)": (
        "A wrong tensor shape inside the computation that none of the more specific "
        "tensor-shape leaves describes.",
        [
            "Wrong shape of an intermediate tensor with another cause (e.g. concatenation "
            "instead of stacking, wrong flatten order, dynamic shape)."
        ],
        ["Missing squeeze, wrong indexing or wrong output padding (their own leaves)."],
    ),
    "Tensor shape mismatch": (
        "Two tensors combined in an operation have incompatible shapes.",
        ["The fix reconciles the shapes of tensors that are combined."],
        [
            "The mismatch is between data and the layer that receives it (Wrong shape of "
            "input data for a layer)."
        ],
    ),
    "Wrong Input": (
        "The data passed to a layer, method or API call has the wrong format, shape or type.",
        [
            "The fix changes the data handed over (reshape, cast, reformat) rather than the "
            "receiving layer or method."
        ],
        ["Shape errors of intermediate tensors in the computation (Wrong Tensor Shape)."],
    ),
    "Wrong Input Format": (
        "Input data is organised in a format the receiver does not expect (layout, "
        "encoding, container, tensor type).",
        [
            "Wrong data layout (e.g. channels first/last), wrong container or tensor type, "
            "wrongly formatted weights."
        ],
        [
            "The problem is only the number/size of dimensions (Wrong Shape of Input Data) "
            "or only the data type (Wrong Type of Input Data)."
        ],
    ),
    "Wrong input format": (
        "Input data is in a layout or format that the receiving layer or method does not "
        "expect (e.g. channels-last data for a channels-first model).",
        ["The fix converts the data to the expected layout/format."],
        [],
    ),
    "Wrong input format for RNN": (
        "The input handed to a recurrent network is organised wrongly (e.g. sequence, "
        "batch and feature dimensions or hidden-state arguments mixed up).",
        ["The fix rearranges the input of a recurrent layer."],
        [],
    ),
    "Wrong format of passed weights": (
        "Weights supplied to a layer or model are in the wrong format.",
        ["The fix reformats weights passed to a layer/model."],
        [],
    ),
    "Incompatible tensor type": (
        "Tensors of incompatible element types are combined (e.g. float and integer).",
        ["The fix casts a tensor to a compatible dtype."],
        [
            "The wrong type is that of a plain argument to a method (Wrong type of input "
            "data for a method)."
        ],
    ),
    "Wrong Shape of Input Data": (
        "Input data handed to a layer or method has the wrong number or size of dimensions.",
        ["The fix reshapes the data before passing it on."],
        ["The layer declaration is wrong instead (Layer Properties)."],
    ),
    "Wrong shape of input data for a method": (
        "Data passed to a framework or library method (e.g. a loss function or a metric) "
        "has the wrong shape.",
        ["The receiver is a function/method rather than a layer."],
        [],
    ),
    "Wrong shape of input data for a layer": (
        "Data fed to a layer of the model (e.g. for training) has the wrong shape.",
        ["The receiver is a layer and the fix reshapes the data."],
        [
            "The fix changes the layer's declared input (Wrong defined input shape / Wrong "
            "input sample size for a layer)."
        ],
    ),
    "Wrong shape of input data": (
        "Input data has the wrong shape and the receiver is not further specified.",
        ["Use when it is not clear whether a layer or a method receives the data."],
        [],
    ),
    "Wrong Type of Input Data": (
        "Input data handed to a layer or method has the wrong data type.",
        ["The fix casts or converts the data to another type."],
        ["Element types of tensors combined in an operation (Incompatible tensor type)."],
    ),
    "Wrong type of input data for a method": (
        "An argument passed to a framework or library method has the wrong type (e.g. a "
        "tensor where a variable is needed).",
        ["The receiver is a function/method."],
        [],
    ),
    "Wrong type of input data for a layer": (
        "Data fed to a layer has the wrong type.",
        ["The receiver is a layer."],
        [],
    ),
    "Wrong type of input data": (
        "Input data has the wrong type and the receiver is not further specified.",
        ["Use when it is not clear whether a layer or a method receives the data."],
        [],
    ),
    # ---- Training
    "Hyperparameters": (
        "Training hyperparameters (learning rate, batch size, epochs, regularisation, "
        "batching) are badly chosen or badly implemented.",
        ["The fix tunes a hyperparameter or the batching of training data."],
        ["The choice of optimiser or loss function (Optimiser, Loss Function)."],
    ),
    "Suboptimal hyperparameters tuning": (
        "Hyperparameters are poorly tuned in general or a hyperparameter without its own "
        "leaf is poorly set (e.g. gradient clipping value).",
        ["Several hyperparameters at once, or one without a specific leaf."],
        ["Learning rate, epochs or batch size alone (their own leaves)."],
    ),
    "Suboptimal learning rate": (
        "The learning rate is too high or too low.",
        ["The fix changes the learning rate."],
        [],
    ),
    "Data batching required": (
        "Training data must be fed in batches (e.g. because the dataset does not fit into "
        "memory) but is not.",
        ["The fix introduces batching or a data generator."],
        ["Batching exists but is implemented wrongly (Wrongly implemented data batching)."],
    ),
    "Suboptimal number of epochs": (
        "The model is trained for too few or too many epochs.",
        ["The fix changes the number of epochs."],
        [],
    ),
    "Suboptimal batch size": (
        "The batch size is too small or too large.",
        ["The fix changes the batch size."],
        [],
    ),
    "Wrongly implemented data batching": (
        "The code that forms batches (e.g. a batch generator) is implemented incorrectly.",
        ["The fix corrects a batch generator or batching logic."],
        [],
    ),
    "Missing regularisation (loss and weight)": (
        "Regularisation of the loss or weights is needed but missing.",
        ["The fix adds regularisation terms."],
        ["Missing dropout layer (Missing/Redundant/Wrong Layer)."],
    ),
    "Loss Function": (
        "The loss function is wrongly chosen, wrongly computed or missing.",
        ["The fix changes the loss or how it is computed."],
        ["The loss receives data of the wrong shape or type (Tensors & Inputs > Wrong Input)."],
    ),
    "Wrong loss function calculation": (
        "The loss is computed incorrectly (e.g. wrong reduction or scaling, wrong formula).",
        ["The fix corrects the computation of the loss."],
        ["A different loss should be used (Wrong selection of loss function)."],
    ),
    "Missing masking of invalid values to zero": (
        "Invalid entries (e.g. padding positions) are not masked to zero before they "
        "enter the loss computation.",
        ["The fix adds masking of invalid values."],
        [],
    ),
    "Wrong selection of loss function": (
        "A loss function unsuited to the task or label encoding is used (e.g. categorical "
        "instead of sparse categorical cross-entropy).",
        ["The fix swaps the loss function."],
        [],
    ),
    "Missing loss function": (
        "No loss function is defined or applied where one is needed.",
        ["The fix adds a loss function."],
        [],
    ),
    "Validation/Testing": (
        "Faults in how the model is validated or evaluated: missing validation data, "
        "unsuitable metrics, wrong data splits.",
        ["The fix concerns evaluation metrics or how data is split for validation and testing."],
        [],
    ),
    "Missing validation set": (
        "Training runs without a validation set that is needed.",
        ["The fix introduces a validation split or set."],
        [],
    ),
    "Wrong performance metric": (
        "Performance is measured with a metric unsuited to the task (e.g. accuracy for "
        "a regression).",
        ["The fix changes the evaluation metric."],
        [],
    ),
    "Incorrect train/test data split": (
        "Data is split into training and test sets inappropriately (e.g. random instead "
        "of time-based, not stratified).",
        ["The fix changes how training and test data are split."],
        [],
    ),
    "Preprocessing of Training Data": (
        "A preprocessing step that the training data needs is missing or is done wrongly.",
        [
            "The fix adds or corrects a transformation of the training data before it "
            "reaches the model."
        ],
        [
            "The data itself is poor (Training Data Quality).",
            "The data only needs reshaping/casting for an API (Tensors & Inputs).",
        ],
    ),
    "Missing Preprocessing": (
        "A needed preprocessing step of the training data is absent.",
        [
            "The fix adds a preprocessing step; the step may be one of the listed leaves or "
            "another one (e.g. removing empty lines, format conversion)."
        ],
        ["The step exists but is done wrongly (Wrong Preprocessing)."],
    ),
    "Missing preprocessing step (subsampling)": (
        "Data (e.g. images) should be subsampled before training but is not.",
        ["The fix adds subsampling/down-sampling."],
        [],
    ),
    "Missing preprocessing step (normalisation)": (
        "Input features are not normalised although the model needs it.",
        ["The fix normalises/standardises the data."],
        ["A normalisation layer in the model (Missing normalisation layer)."],
    ),
    "Missing preprocessing step (input scaling)": (
        "Input values or sizes are not scaled to the range/size expected.",
        ["The fix scales input values or down-scales inputs."],
        [],
    ),
    "Missing preprocessing step (resize of the images)": (
        "Images are not resized to the size the model expects.",
        ["The fix resizes images."],
        [],
    ),
    "Missing preprocessing step (oversampling)": (
        "Under-represented data is not oversampled.",
        ["The fix oversamples minority data."],
        [],
    ),
    "Missing preprocessing step (encoding of categorical data)": (
        "Categorical values are not encoded (e.g. one-hot) before training.",
        ["The fix encodes categorical features or labels."],
        [],
    ),
    "Missing preprocessing step (padding)": (
        "Sequences or inputs are not padded to a common length.",
        ["The fix adds padding."],
        [],
    ),
    "Missing preprocessing step (data shuffling)": (
        "Training data is not shuffled.",
        ["The fix shuffles the data."],
        [
            "Shuffling exists but is placed wrongly in an input pipeline (API > Wrong "
            "position of data shuffle operation)."
        ],
    ),
    "Missing preprocessing step (interpolation)": (
        "A needed interpolation step of the data is missing.",
        ["The fix adds interpolation."],
        [],
    ),
    "Wrong Preprocessing": (
        "A preprocessing step of the training data is present but done incorrectly.",
        [
            "The fix corrects an existing transformation; the error may be one of the "
            "listed leaves or another one (e.g. invalid data type, information leak)."
        ],
        [],
    ),
    "Wrong preprocessing (pixel encoding)": (
        "Pixel values are encoded wrongly (e.g. inverted or complemented).",
        ["The fix corrects pixel encoding."],
        [],
    ),
    "Wrong preprocessing (padding)": (
        "Padding is applied, but wrongly.",
        ["The fix corrects padding."],
        [],
    ),
    "Wrong preprocessing (text segmentation)": (
        "Text is split into segments/tokens wrongly.",
        ["The fix corrects tokenisation or segmentation."],
        [],
    ),
    "Wrong preprocessing (normalisation)": (
        "Normalisation is applied, but wrongly (e.g. wrong parameters).",
        ["The fix corrects the normalisation step."],
        [],
    ),
    "Wrong preprocessing (positional encoding)": (
        "Positional encoding of sequence data is computed wrongly.",
        ["The fix corrects positional encoding."],
        [],
    ),
    "Wrong preprocessing (character encoding)": (
        "Characters are encoded wrongly (e.g. incompatible character sets).",
        ["The fix corrects character encoding."],
        [],
    ),
    "Optimiser": (
        "The optimisation algorithm is unsuitable or badly configured.",
        ["The fix changes the optimiser or its internal parameters."],
        ["The learning rate (Hyperparameters > Suboptimal learning rate)."],
    ),
    "Wrong optimisation function": (
        "An unsuitable optimiser is chosen (e.g. Adam where SGD is needed).",
        ["The fix swaps the optimiser."],
        [],
    ),
    "Epsilon for Adam optimiser too low": (
        "The epsilon parameter of the Adam optimiser is too low, causing instability.",
        ["The fix raises Adam's epsilon."],
        [],
    ),
    "Training Data Quality": (
        "The training data itself is deficient: wrong labels, poor or irrelevant "
        "features, imbalance, too little or low-quality data, problematic output classes.",
        [
            "The fix requires better, more, rebalanced or relabelled data, or a different "
            "choice of features."
        ],
        [
            "The data is fine but is transformed wrongly or not at all (Preprocessing of "
            "Training Data)."
        ],
    ),
    "Wrong labels for training data": (
        "Training examples carry wrong or missing labels.",
        ["The fix corrects the labels."],
        [],
    ),
    "Wrong selection of features": (
        "The features used for training are badly chosen (too few, irrelevant).",
        ["The fix changes which features are used."],
        ["Useful features were discarded (Discarding important features)."],
    ),
    "Unbalanced training data": (
        "Some classes are strongly under-represented in the training data.",
        ["The fix rebalances the data."],
        [],
    ),
    "Not enough training data": (
        "There is too little training data for the task.",
        ["The fix obtains more data."],
        [],
    ),
    "Low quality training data": (
        "The training data is of poor quality (unrelated samples, missing values, no "
        "common format, not representative).",
        ["The fix cleans or replaces the data."],
        [],
    ),
    "Overlapping output classes in training data": (
        "Output classes overlap, so the model cannot separate them.",
        ["The fix merges or redefines classes."],
        [],
    ),
    "Too many output categories": (
        "The classifier has too many output categories to train well.",
        ["The fix reduces the number of categories."],
        [],
    ),
    "Small range of values for a feature": (
        "A feature varies over too small a range to be informative.",
        ["The data lacks variation in a feature."],
        [],
    ),
    "Discarding important features": (
        "Informative features are removed from the training data.",
        ["The fix restores discarded features."],
        [],
    ),
    "Training Process": (
        "Faults in managing the training run itself: memory, checkpoints, model size and "
        "data augmentation.",
        ["The fix concerns resources, checkpoints or augmentation during training."],
        ["GPU placement and transfers (GPU Usage)."],
    ),
    "Wrong management of memory resources": (
        "Memory is managed badly during training (e.g. leaks, excessive retention).",
        ["The fix changes how memory is used or released."],
        [],
    ),
    "Reference for non-existing checkpoint": (
        "Training or restoring refers to a checkpoint that does not exist.",
        ["The fix corrects the checkpoint reference."],
        [],
    ),
    "Model too big to fit into available memory": (
        "The model is too large for the memory available.",
        ["The fix shrinks the model or changes the hardware setup."],
        [],
    ),
    "Missing data augmentation": (
        "Data augmentation is needed (e.g. against overfitting) but missing.",
        ["The fix adds augmentation."],
        [],
    ),
    "Redundant data augmentation": (
        "Data augmentation is applied where it harms training.",
        ["The fix removes augmentation."],
        [],
    ),
    # ---- GPU Usage
    "Missing destination GPU device": (
        "Data is copied to a GPU without specifying the destination device.",
        ["The fix names the target device of a copy."],
        [],
    ),
    "Incorrect state sharing": (
        "State (e.g. a session or optimiser state) is shared incorrectly across processes "
        "or devices.",
        ["The fix changes how state is shared between subprocesses/workers."],
        [],
    ),
    "Wrong reference to GPU device": (
        "The program refers to the wrong GPU (e.g. wrong device id or CUDA_VISIBLE_DEVICES "
        "setting).",
        ["The fix corrects the device id/visibility."],
        [],
    ),
    "Missing transfer of data to GPU": (
        "Data needed on the GPU is never transferred there.",
        ["The fix adds a CPU-to-GPU transfer."],
        [],
    ),
    "Wrong tensor transfer to GPU": (
        "A tensor is transferred to the GPU in the wrong way.",
        ["The fix corrects how a tensor is moved to the GPU."],
        [],
    ),
    "GPU tensor is used instead of CPU tensor": (
        "A GPU tensor is used where a CPU tensor is required.",
        ["The fix moves the tensor to the CPU."],
        [],
    ),
    "Wrong data parallelism on GPUs": (
        "Data-parallel execution across GPUs is set up wrongly.",
        ["The fix corrects multi-GPU data parallelism."],
        [],
    ),
    "Calling unsupported operations on CUDA tensors": (
        "An operation that CUDA tensors do not support is called on one.",
        ["The fix avoids or replaces the unsupported operation."],
        [],
    ),
    "Conversion to CUDA tensor inside the training/test loop": (
        "Conversion to CUDA tensors (or moving the model to GPU) happens inside the loop "
        "instead of once outside it.",
        ["The fix moves the conversion out of the loop."],
        [],
    ),
    "Wrongly implemented data transfer function (CPU-GPU)": (
        "A function that moves data between CPU and GPU is implemented wrongly.",
        ["The fix corrects custom CPU-GPU transfer code."],
        [],
    ),
    # ---- API
    "Deprecated API": (
        "A deprecated framework API is used.",
        ["The fix replaces a deprecated call."],
        [
            "Renamed keywords across framework versions were tagged generic by the "
            "evaluators (see the screening codebook)."
        ],
    ),
    "Wrong usage of image decoding API": (
        "An image decoding function is called wrongly (e.g. a file path instead of a tensor).",
        ["The fix corrects the decoding call."],
        [],
    ),
    "Wrong usage of placeholder restoration API": (
        "Placeholders are not restored correctly from a saved model.",
        ["The fix corrects how placeholders are restored."],
        [],
    ),
    "Missing argument scoping": (
        "Variables or arguments need a scope (e.g. to avoid name clashes) that is not given.",
        ["The fix adds scoping."],
        [],
    ),
    "Wrong position of data shuffle operation": (
        "In an input pipeline the shuffle operation is placed at the wrong point (e.g. "
        "after instead of before batching).",
        ["The fix reorders pipeline operations."],
        ["Shuffling is absent (Missing preprocessing step (data shuffling))."],
    ),
    "Missing global variables initialisation": (
        "Framework variables are used without the required global initialisation.",
        ["The fix adds the variable-initialisation call."],
        [],
    ),
    "Wrong API usage": (
        "A framework API is used in a way that does not fit its intended use and no more "
        "specific API leaf applies.",
        ["Misuse of a framework call with no more specific leaf anywhere in the taxonomy."],
        ["Wrong shape/type of data passed to an API method (Wrong Input)."],
    ),
    "Missing API call": (
        "A framework call that is needed is missing.",
        ["The fix adds a framework call."],
        ["The missing call is the variable initialiser (Missing global variables initialisation)."],
    ),
    "Wrong reference to operational graph": (
        "Operations are created in or refer to the wrong computational graph (e.g. the "
        "default graph).",
        ["The fix corrects which graph is used."],
        [],
    ),
}

# --------------------------------------------------------------------------------------
# Mapping evaluator strings (round "Taxonomy Tag" values and accepted interview codes)
# to tree nodes. Keys are normalised (see norm()); values are leaf names or category
# names of the compiled tree.
# --------------------------------------------------------------------------------------
SYNONYMS = {
    # rounds (Taxonomy Tag)
    "wrong tensor shape": "Wrong Tensor Shape",  # sheet code 4.1; no variant named
    "wrong tensor shape (normalisation)": "Wrong tensor shape (other)",
    "wrong tensor shape (missing squeeze, temp solution)": "Wrong tensor shape (missing squeeze)",
    "wrong tensor shape (indexing)": "Wrong tensor shape (wrong indexing)",
    "wrong input sample size for linear layer": "Wrong input sample size for a layer",
    "wrong input sample size for layer (linear)": "Wrong input sample size for a layer",
    "wrong shape of input data for a layer (training)": "Wrong shape of input data for a layer",
    "wrong shape of input data for a layer (rnn model)": "Wrong shape of input data for a layer",
    "wrong shape of input data for a method (loss function)": "Wrong shape of input data for a method",
    "wrong shape of input data for a method (confusion matrix)": "Wrong shape of input data for a method",
    "wrong type of input data for a method (loss function)": "Wrong type of input data for a method",
    "wrong defined input shape (convolutional layer)": "Wrong defined input shape",
    "wrong defined input shape -> wrong type of input data for a layer": "Wrong defined input shape",
    "databatching required": "Data batching required",
    "suboptimal hyperparameter tuning": "Suboptimal hyperparameters tuning",
    "epsilon for adam optimiser too low": "Epsilon for Adam optimiser too low",
    "wrong preprocessing (wrong pixel encoding)": "Wrong preprocessing (pixel encoding)",
    "wrong preprocessing (invalid datatype used)": "Wrong Preprocessing",
    "missing preprocessing step (empty lines not removed)": "Missing Preprocessing",
    "missing preprocessing step (conversion to 8-bit unsigned integer format for images)": "Missing Preprocessing",
    "wrong weights initialisation": "Wrong weights initialisation",
    "multiple initialisation of cnn": "Multiple initialisations of CNN",
    "wrong loss function calculation (scaling)": "Wrong loss function calculation",
    "wrong reference to operational graph (default tensorflow graph)": "Wrong reference to operational graph",
    "bias needed in a layer": "Missing bias (bias needed in a layer)",
    "missing dense layers": "Missing dense layer",
    "calling unsupported operation on cuda tensors": "Calling unsupported operations on CUDA tensors",
    "conversion to cuda tensor inside the training/test loop (should be outside)": "Conversion to CUDA tensor inside the training/test loop",
    "wrong api usage (placeholders used instead of variables)": "Wrong API usage",
    # interviews (accepted codes / Interview_Tags.xlsx)
    "layers dimension mismatch": "Layers' dimensions mismatch",
    "suboptimal number of neurons in the layer": "Suboptimal number of neurons in a layer",
    "low quality dataset": "Low quality training data",
    "low quality data set": "Low quality training data",
    "low quality data set (feature values' range too small)": "Small range of values for a feature",
    "low quality dataset (feature values' range too small)": "Small range of values for a feature",
    "wrong calculation of loss": "Wrong loss function calculation",
    "wrong selection of optimiser": "Wrong optimisation function",
    "wrong activation function": "Wrong type of activation function",
    "wrong initialisation of the network": "Model Type & Properties",
    "wrong performance metric selection": "Wrong performance metric",
    "reference to non-existing checkpoint": "Reference for non-existing checkpoint",
    "wrong shape of input data for layer": "Wrong shape of input data for a layer",
    "wrong pooling layer (max vs. average)": "Wrong type of pooling layer",
    "wrong filter size for convolutional layer": "Wrong filter size for a convolutional layer",
    "wrong amount and type of pooling in convolutional layer": "Wrong amount and type of pooling in a convolutional layer",
    "too many output categories (classifier does not train)": "Too many output categories",
    "wrong input format (wrong encoding, special characters)/low quality dataset?": "Wrong input format",
    "wrong tensor shape (wrong order for flatten-other)": "Wrong tensor shape (other)",
    "wrong tensor shape (transposed version instead of the original one)": "Wrong tensor shape (other)",
    "missing preprocessing step": "Missing Preprocessing",
    "wrong preprocessing": "Wrong Preprocessing",
    "wrong data preprocessing": "Wrong Preprocessing",
    "wrong data preprocessing step(wrong text segmentation)": "Wrong preprocessing (text segmentation)",
    "wrong data preprocessing (wrong positional encoding)": "Wrong preprocessing (positional encoding)",
    "wrong data preprocessing (padding)": "Wrong preprocessing (padding)",
    "wrong data preprocessing (normalisation)": "Wrong preprocessing (normalisation)",
    "wrong data preprocessing (incompatible character coding,unicode vs utf-8)": "Wrong preprocessing (character encoding)",
    "wrong data conversion (wrong data representation) -> wrong data preprocessing": "Wrong Preprocessing",
    "missing preprocessing step (min-max normalisation)": "Missing preprocessing step (normalisation)",
    "missing preprocessing step (data normalisation)": "Missing preprocessing step (normalisation)",
    "missing preprocessing step (standartisation or normalisation)": "Missing preprocessing step (normalisation)",
}
# interview codes that are accepted (status A) but have no place in the compiled tree
UNPLACED = {
    "wrong calculation of the gradients for backpropagation",
    "wrongly implemented back propagation",
}
# Parenthetical qualifiers that keep the base leaf (e.g. "not enough training data (due
# to privacy restrictions)" -> "Not enough training data") are handled in map_tag().
# Base strings for which a parenthetical must NOT be stripped (it selects a leaf):
QUALIFIED_BASES = {
    "missing preprocessing step",
    "wrong preprocessing",
    "wrong data preprocessing",
    "wrong tensor shape",
}

SPELLING = [
    ("initialization", "initialisation"),
    ("normalization", "normalisation"),
    ("optimizer", "optimiser"),
    ("optimization", "optimisation"),
]


def norm(s: str) -> str:
    s = " ".join(str(s).strip().lower().split())
    for a, b in SPELLING:
        s = s.replace(a, b)
    return s


def slug(s: str) -> str:
    s = s.lower().replace("&", "and").replace("'", "")
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    return s


# --------------------------------------------------------------------------------------
# Reading the data
# --------------------------------------------------------------------------------------


def read_tree(data: Path) -> list[tuple[str, str, str, str]]:
    with open(data / "taxonomy_tree_compiled.csv", newline="", encoding="utf-8") as f:
        return [(r["level1"], r["level2"], r["level3"], r["leaf"]) for r in csv.DictReader(f)]


def read_rounds(data: Path) -> list[dict[str, str]]:
    with open(data / "labelling_rounds_all_combined.csv", newline="", encoding="utf-8") as f:
        return [
            {k: (v or "").strip() if k != "Taxonomy Tag" else (v or "") for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def read_relevant_codes(data: Path) -> dict[str, str]:
    """Link -> Taxonomy Cat code (as text) from the Relevant sheets."""
    out: dict[str, str] = {}
    for i in range(1, 7):
        wb = openpyxl.load_workbook(
            data / f"Manual_Labelling/Analysed_Artifacts/round_{i}.xlsx", read_only=True
        )
        ws = next(w for w in wb.worksheets if "Relevant" in w.title)
        rows = list(ws.iter_rows(values_only=True))
        for row in rows[1:]:
            if not row or not row[1]:
                continue
            code = row[-1]
            if code is None:
                continue
            out[str(row[1]).strip()] = str(code).strip()
        wb.close()
    return out


def read_so_titles(data: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in ("keras", "pytorch", "tensorflow"):
        raw = (data / f"Manual_Labelling/SO_init/{name}.csv").read_bytes()
        # the files mix UTF-8 with Mac Roman (classic Mac) bytes: decode line by line
        lines = []
        for line in raw.splitlines(keepends=True):
            try:
                lines.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(line.decode("mac_roman"))
        for r in csv.DictReader(io.StringIO("".join(lines), newline="")):
            qid = re.search(r"questions/(\d+)", r["Link"])
            if qid:
                out.setdefault(qid.group(1), r["Title"].strip())
    return out


def read_interview_codes(data: Path) -> list[str]:
    wb = openpyxl.load_workbook(data / "Interviews/interview_open_coding.xlsx", read_only=True)
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    head = [str(h).strip() if h else "" for h in rows[0]]
    ti, si = head.index("Tag"), head.index("Status")
    out = [str(r[ti]).strip() for r in rows[1:] if r and r[ti] and str(r[si] or "").strip() == "A"]
    wb.close()
    return out


def read_interview_tags(data: Path) -> list[tuple[str, int, str]]:
    wb = openpyxl.load_workbook(data / "Interviews/Interview_Tags.xlsx", read_only=True)
    rows = list(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    return [(str(r[0]).strip(), int(r[1]), str(r[2]).strip()) for r in rows[1:] if r and r[0]]


def read_survey_columns(data: Path) -> list[str]:
    wb = openpyxl.load_workbook(data / "Survey/participant_info_and_responses.xlsx", read_only=True)
    head = next(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    return [str(h).strip() for h in head if h]


# --------------------------------------------------------------------------------------
# Building the taxonomy
# --------------------------------------------------------------------------------------


class Builder:
    def __init__(self, data: Path):
        self.data = data
        self.tree_rows = read_tree(data)
        self.rounds = read_rounds(data)
        self.codes_by_link = read_relevant_codes(data)
        self.so_titles = read_so_titles(data)
        self.interview_codes = read_interview_codes(data)
        self.interview_tags = read_interview_tags(data)
        self.survey = set(read_survey_columns(data))
        # the tree: name -> {children: [...], parent}
        self.children: dict[str | None, list[str]] = defaultdict(list)
        self.parent: dict[str, str | None] = {}
        self.is_leaf: dict[str, bool] = {}
        for row in self.tree_rows:
            path = [p for p in row if p]
            prev = None
            for depth, name in enumerate(path):
                if name not in self.parent:
                    self.parent[name] = prev
                    self.children[prev].append(name)
                    self.is_leaf[name] = depth == len(path) - 1
                elif self.parent[name] != prev:
                    raise SystemExit(f"tree: {name!r} has two parents")
                prev = name
        self.by_norm = {norm(n): n for n in self.parent}
        missing = [n for n in self.parent if n not in D]
        if missing:
            raise SystemExit(f"no definition for: {missing}")

    # -- ids --
    def node_id(self, name: str) -> str:
        if name in CODES:
            return CODE_IDS_PREFIX + CODES[name]
        if name in READABLE_CATEGORY_IDS:
            return READABLE_CATEGORY_IDS[name]
        return slug(name)

    def ancestors(self, name: str) -> list[str]:
        out = []
        p = self.parent[name]
        while p is not None:
            out.append(p)
            p = self.parent[p]
        return out

    # -- mapping --
    def map_tag(self, tag: str) -> str | None:
        n = norm(tag)
        if n in SYNONYMS:
            return SYNONYMS[n]
        if n in self.by_norm:
            return self.by_norm[n]
        base = re.sub(r"\s*\(.*$", "", n).strip()
        if base != n:
            if base in ("missing preprocessing step",):
                return "Missing Preprocessing"
            if base in ("wrong data preprocessing", "wrong preprocessing"):
                return "Wrong Preprocessing"
            if base in QUALIFIED_BASES:
                return None
            return self.map_tag(base)
        return None

    def build(self):
        # --- labelled artefacts (rounds)
        self.art_count: Counter[str] = Counter()
        self.art_rows: dict[str, list[dict]] = defaultdict(list)
        self.tax_aliases: dict[str, list[str]] = defaultdict(list)
        self.final_by_node: dict[str, Counter[str]] = defaultdict(Counter)
        self.final_nodes: dict[str, set[str]] = defaultdict(set)
        self.unmapped_rounds: Counter[str] = Counter()
        self.non_leaf_tax: Counter[str] = Counter()
        self.code_discrepancies: list[str] = []
        for r in self.rounds:
            tt = r["Taxonomy Tag"].strip()
            if not tt:
                continue
            if norm(tt) in ("generic", "false positive", "unclear", "-") or "unclear" in norm(tt):
                self.non_leaf_tax[tt] += 1
                continue
            node = self.map_tag(tt)
            if node is None:
                self.unmapped_rounds[tt] += 1
                continue
            self.art_count[node] += 1
            self.art_rows[node].append(r)
            if tt not in self.tax_aliases[node]:
                self.tax_aliases[node].append(tt)
            ft = r["Final Tag"].strip()
            if ft:
                self.final_by_node[node][ft] += 1
                self.final_nodes[norm(ft)].add(node)
            code = self.codes_by_link.get(r["Link"])
            if code:
                expect = {CODES[a] for a in [node, *self.ancestors(node)] if a in CODES}
                if code not in expect:
                    self.code_discrepancies.append(
                        f"{r['Link']} (round {r['round']}): taxonomy tag {tt!r} has Taxonomy "
                        f"Cat {code} in the Relevant sheet; the tree places it under "
                        f"{self.node_id(next(a for a in [node, *self.ancestors(node)] if a in CODES))}"
                    )
        # --- interviews (accepted codes)
        self.int_count: Counter[str] = Counter()
        self.int_aliases: dict[str, list[str]] = defaultdict(list)
        self.unmapped_interview: Counter[str] = Counter()
        for tag in self.interview_codes:
            node = None if norm(tag) in UNPLACED else self.map_tag(tag)
            if node is None:
                self.unmapped_interview[tag] += 1
                continue
            self.int_count[node] += 1
            if tag not in self.int_aliases[node]:
                self.int_aliases[node].append(tag)
        self.int_tag_nodes: dict[str, list[str]] = defaultdict(list)
        for tag, _n, status in self.interview_tags:
            if status != "A" or norm(tag) in UNPLACED:
                continue
            node = self.map_tag(tag)
            if node is not None and tag not in self.int_tag_nodes[node]:
                self.int_tag_nodes[node].append(tag)

    def subtree_counts(self, name: str) -> tuple[int, int]:
        a, i = self.art_count[name], self.int_count[name]
        for c in self.children[name]:
            ca, ci = self.subtree_counts(c)
            a, i = a + ca, i + ci
        return a, i

    def attested(self, name: str) -> tuple[bool, str]:
        if name in CODES or name in READABLE_CATEGORY_IDS:
            if name in SURVEY_NAMES and SURVEY_NAMES[name] in self.survey:
                return True, "survey column"
            if name in CODES and CODES[name] not in PREFIX_ONLY_CODES:
                return True, "Taxonomy Cat code"
            if name in CODES:
                return True, "prefix of Taxonomy Cat codes"
            return False, ""
        if self.tax_aliases.get(name) or self.int_aliases.get(name) or self.int_tag_nodes.get(name):
            return True, "tag"
        return False, ""

    def example_for(self, r: dict) -> dict:
        link = r["Link"]
        et = r["EntityType"]
        ft = r["Final Tag"].strip()
        m = re.search(r"stackoverflow\.com/questions/(\d+)", link)
        if m and m.group(1) in self.so_titles:
            desc = f'Stack Overflow question "{self.so_titles[m.group(1)]}"; final tag: "{ft}"'
        else:
            kind = {"commit": "commit", "issue": "issue/pull request", "so": "question"}[
                et.split("-")[0]
            ]
            gm = re.search(r"github\.com/([^/]+/[^/]+)/", link)
            where = f"GitHub {kind} in {gm.group(1)}" if gm else f"{et} {kind}"
            desc = f'{where}; final tag: "{ft}"'
        return {
            "description": desc,
            "url": link,
            "source": f'labelling round {r["round"]} ({et}), taxonomy tag "{r["Taxonomy Tag"].strip()}"',
        }

    def node_dict(self, name: str) -> dict:
        definition, include, exclude = D[name]
        out: dict = {"id": self.node_id(name), "name": name, "definition": definition}
        if include:
            out["include"] = list(include)
        if exclude:
            out["exclude"] = list(exclude)
        rows = self.art_rows.get(name, [])
        if rows:
            out["examples"] = [self.example_for(r) for r in rows[:3]]
        a, i = self.subtree_counts(name)
        if a or i:
            below = " or below" if self.children[name] else ""
            note = (
                f"{a} labelled artefacts (rounds 1-6, 'Taxonomy Tag' mapped to this node{below})"
                f" + {i} accepted interview codes (interview_open_coding.xlsx, status A)"
            )
            out["frequency"] = {"count": a + i, "note": note}
        ok, _why = self.attested(name)
        out["provenance"] = "replication-package" if ok else "reconstructed"
        aliases: list[str] = []

        def add(s: str) -> None:
            if s != name and s not in aliases:
                aliases.append(s)

        for s in self.tax_aliases.get(name, []):
            add(s)
        for s in self.int_tag_nodes.get(name, []):
            add(s)
        for s in self.int_aliases.get(name, []):
            add(s)
        for ft, _c in sorted(
            self.final_by_node.get(name, {}).items(), key=lambda kv: (-kv[1], kv[0])
        ):
            if self.final_nodes[norm(ft)] == {name} and norm(ft) not in self.by_norm:
                add(ft)
        if (
            name in SURVEY_NAMES
            and SURVEY_NAMES[name] != name
            and SURVEY_NAMES[name] in self.survey
        ):
            add(SURVEY_NAMES[name])
        if aliases:
            out["aliases"] = aliases
        kids = [self.node_dict(c) for c in self.children[name]]
        if kids:
            out["children"] = kids
        return out

    def taxonomy(self) -> dict:
        self.build()
        top = self.children[None]
        nodes = [self.node_dict(n) for n in top]
        total_a = sum(self.subtree_counts(n)[0] for n in top)
        total_i = sum(self.subtree_counts(n)[1] for n in top)
        leaves = [n for n, lf in self.is_leaf.items() if lf]
        recon = sorted(n for n in leaves if not self.attested(n)[0])
        ambiguous = sorted(
            (ft, sorted(self.node_id(x) for x in nodes_))
            for ft, nodes_ in self.final_nodes.items()
            if len(nodes_) > 1
        )
        notes = [
            "Source data: replication package github.com/dlfaults/taxonomy (CC BY 4.0), "
            "folders replication/Manual_Labelling, replication/Interviews, replication/Survey. "
            "Definitions, include/exclude criteria are our own wording, not quotations.",
            "Tree shape and leaf wording follow a compiled tree (106 leaves) built from the "
            "round sheets' 'Taxonomy Tag'/'Taxonomy Cat' pairs, the survey's category names and "
            "two third-party reproductions of the paper's Figure 1 (a markdown summary of the "
            "paper in a public GitHub repository and the gwern.net annotation of arXiv 1910.11015). "
            "The replication package's stats.xlsx reports 5/11/9 categories (high-level) and "
            "'65+27=92' leaves for the final taxonomy; this tree has 5/11/8 categories and "
            "106 leaves. The difference is most likely that the paper groups the "
            "'Missing preprocessing step (...)' and 'Wrong preprocessing (...)' variants (15 "
            "leaves here); we could not verify the figure itself, so the finer leaves are kept.",
            "Ids: category nodes use the 'Taxonomy Cat' codes of the round sheets' Relevant tabs "
            "with a 'T' prefix (T4.2.1 = sheet code 4.2.1; the prefix keeps ids from being read "
            "as numbers by YAML/CSV tools). Codes 1, 1.2, 4, 4.2, 5 and 5.4 occur in the sheets "
            "only as prefixes of longer codes. 'Training Process' has no code in the sheets and "
            "gets the id training-process; leaves get readable slugs of their names.",
            "Leaves sit at different depths: GPU Usage (T2) and API (T3) have leaves directly "
            "under the top level (their leaves are at level 'inner-category'); Model Type & "
            "Properties, Wrong Tensor Shape and the inner categories of Training other than "
            "Preprocessing of Training Data have leaves at level 'sub-category'.",
            "Provenance: 'replication-package' when the node is attested in the replication "
            "package - a round sheet 'Taxonomy Tag' or an accepted interview code/tag maps to the "
            "leaf, or the category has a 'Taxonomy Cat' code (or is a prefix of one) or names a "
            "survey column. The names 'Model', 'Tensors & Inputs', 'Training', 'Layers', "
            "'Wrong Shape of Input Data', 'Wrong Type of Input Data', 'Wrong Input Format', "
            "'Missing Preprocessing' and 'Wrong Preprocessing' come from the figure "
            "reproductions; their codes are in the sheets. 'reconstructed' marks leaves known "
            f"only from the figure reproductions: {', '.join(self.node_id(n) for n in recon) or 'none'}.",
            f"Frequencies: count = labelled artefacts from rounds 1-6 whose 'Taxonomy Tag' maps to "
            f"the node or its descendants + accepted interview codes mapped likewise. Totals over "
            f"the tree: {total_a} artefacts + {total_i} interview codes = {total_a + total_i} "
            f"(stats.xlsx: 149 entities inserted from artefacts + 226 from interviews = 375; "
            f"the {len(self.interview_codes) - total_i} accepted interview codes not counted have "
            "no node in the tree, see below). "
            "Mapping tags to leaves is our interpretation where the tag wording differs from the "
            "leaf (e.g. 'wrong tensor shape (normalisation)' -> 'Wrong tensor shape (other)'); tags "
            "that name only a category (plain 'wrong tensor shape', coded 4.1 in the sheets; "
            "'missing preprocessing step (empty lines not removed)'; 'wrong data preprocessing') "
            "are counted at that category.",
            "Name clashes inherited from the tree: the categories T4.2.1, T4.2.2 and T4.2.3 have "
            "the same names, up to case, as one of their own leaves (e.g. 'Wrong Input Format' / "
            "'Wrong input format'); a human tag with that wording maps to the leaf, as in the "
            "round sheets.",
            "Aliases: exact 'Taxonomy Tag' strings from the round sheets, exact accepted interview "
            "codes/tags, and human 'Final Tag' strings that led to this node and to no other node. "
            "Final tags that led to several nodes are left out: "
            + "; ".join(f"'{ft}' -> {', '.join(ids)}" for ft, ids in ambiguous)
            + ".",
        ]
        if self.code_discrepancies:
            notes.append(
                "Placement differs from the sheet's 'Taxonomy Cat' for: "
                + "; ".join(self.code_discrepancies)
                + ". The tree follows the figure reproductions ('1.3' looks like a slip "
                "for 1.2.3, as the same round uses 1.2.3 for activation leaves)."
            )
        unm = sorted(self.unmapped_interview.items())
        if unm:
            notes.append(
                "Accepted interview codes with no node in the compiled tree (not counted): "
                + "; ".join(f"'{t}' x{c}" for t, c in unm)
                + "."
            )
        if self.unmapped_rounds:
            notes.append(
                "Round taxonomy tags not mapped: "
                + "; ".join(f"'{t}' x{c}" for t, c in sorted(self.unmapped_rounds.items()))
                + "."
            )
        notes.append(
            "Round 'Taxonomy Tag' values that are not taxonomy nodes (screening outcomes "
            "decided at insertion time, see humbatova-screening): "
            + "; ".join(f"'{t}' x{c}" for t, c in sorted(self.non_leaf_tax.items()))
            + "."
        )
        notes.append(
            "Coding unit in the replication data: one Stack Overflow question, GitHub "
            "issue, pull request or commit (or a fault reported in an interview). Our "
            "guidance for coders: classify the fault by its root cause as shown by the "
            "fix or accepted answer, not by the error message; assign the most specific "
            "node that fits, a category node when no leaf fits."
        )
        return {
            "id": "humbatova2020",
            "title": "Taxonomy of Real Faults in Deep Learning Systems",
            "citation": CITATION,
            "version": "1.0",
            "levels": ["category", "inner-category", "sub-category", "fault"],
            "status": "complete",
            "description": (
                "Fault taxonomy of Humbatova et al. (ICSE 2020) for faults in programs that use "
                "deep learning frameworks (TensorFlow, Keras, PyTorch), built from 1,059 Stack "
                "Overflow posts and GitHub issues/commits labelled in six rounds and 20 interviews "
                "with practitioners (interview_open_coding.xlsx). Five top-level categories: Model, Tensors & Inputs, Training, "
                "GPU Usage, API. Generated by scripts/build_humbatova_codebook.py."
            ),
            "notes": notes,
            "nodes": nodes,
        }


# --------------------------------------------------------------------------------------
# Screening codebook
# --------------------------------------------------------------------------------------
FP_VARIANTS = {
    "false positive",
    "false positve",
    "false positivealse positive",
    "false positivealse positivealse positivealse positive",
}
GENERIC_VARIANTS = {"generic", "general", "gen"}


def classify_tag(tag: str) -> str:
    """empty | false-positive | generic | unclear | hedged | dl-fault"""
    n = norm(tag)
    if not n:
        return "empty"
    if n == "-":
        return "dash"
    if n in FP_VARIANTS or re.fullmatch(r"false positive \(.*\)", n):
        return "false-positive"
    if n in GENERIC_VARIANTS or re.fullmatch(r"generic \(.*\)", n):
        return "generic"
    if n.startswith("unclear"):
        return "unclear"
    if "false positive" in n or "generic" in n or re.search(r"\bfp\b", n):
        return "hedged"
    return "dl-fault"


def screening(data: Path) -> tuple[dict, dict]:
    rows = read_rounds(data)
    tag_cls: Counter[str] = Counter()
    tag_str: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        for k in ("Tag1", "Tag2", "Tag3", "Tag4"):
            t = r[k]
            c = classify_tag(t)
            tag_cls[c] += 1
            tag_str[c][t] += 1
    final_cls: Counter[str] = Counter(classify_tag(r["Final Tag"]) for r in rows)
    final_str: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        final_str[classify_tag(r["Final Tag"])][r["Final Tag"]] += 1
    eval_no_tag = sum(
        1 for r in rows for i in range(1, 5) if r[f"Evaluator{i}"] and not r[f"Tag{i}"]
    )
    total_slots = 4 * len(rows)

    def fmt(cnt: Counter[str], limit: int | None = None) -> str:
        items = sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0]))
        if limit:
            items = items[:limit]
        return "; ".join(f"'{k}' x{v}" for k, v in items)

    def variants(cls: str, canonical: str) -> list[str]:
        return [
            k
            for k, _ in sorted(tag_str[cls].items(), key=lambda kv: (-kv[1], kv[0]))
            if k != canonical
        ]

    titles = read_so_titles(data)
    examples: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        m = re.search(r"stackoverflow\.com/questions/(\d+)", r["Link"])
        tags = [r[k] for k in ("Tag1", "Tag2", "Tag3", "Tag4") if r[k]]
        cls = {classify_tag(t) for t in tags}
        fcls = classify_tag(r["Final Tag"])
        tt = r["Taxonomy Tag"].strip()
        tcls = ("unclear" if "unclear" in norm(tt) else classify_tag(tt)) if tt else None
        if not m or m.group(1) not in titles or len(tags) < 2 or cls != {fcls}:
            continue
        if (fcls == "dl-fault" and tcls != "dl-fault") or (tcls is not None and tcls != fcls):
            continue  # later re-classified (or not inserted) when building the taxonomy
        if len(examples[fcls]) < 3:
            what = f'; final tag "{r["Final Tag"]}"' if fcls == "dl-fault" else ""
            examples[fcls].append(
                {
                    "description": f'Stack Overflow question "{titles[m.group(1)]}"{what}',
                    "url": r["Link"],
                    "source": f"labelling round {r['round']} ({r['EntityType']}), {len(tags)} evaluators agree",
                }
            )
    inserted = sum(
        1
        for r in rows
        if r["Taxonomy Tag"].strip()
        and classify_tag(r["Taxonomy Tag"]) == "dl-fault"
        and "unclear" not in norm(r["Taxonomy Tag"])
    )
    stats = {
        "tags": dict(tag_cls),
        "final": dict(final_cls),
        "eval_no_tag": eval_no_tag,
        "tag_strings": {k: dict(v) for k, v in tag_str.items() if k != "dl-fault"},
        "final_strings": {k: dict(v) for k, v in final_str.items() if k != "dl-fault"},
    }
    n_dl_distinct = len(tag_str["dl-fault"])
    notes = [
        "Derived from labelling_rounds_all_combined.csv (the six 'Round N All' sheets of the "
        "replication package github.com/dlfaults/taxonomy, CC BY 4.0): 1,059 artefacts "
        "(477 Stack Overflow questions, 582 GitHub commits/issues/pull requests), each tagged "
        "independently by 2-4 evaluators (Tag1..Tag4), with a 'Final Tag' after conflict "
        "resolution and, for inserted faults, a 'Taxonomy Tag'.",
        f"Distribution of the {total_slots} Tag1..Tag4 cells: empty {tag_cls['empty']} "
        f"(of which {eval_no_tag} have an evaluator but no tag, mostly round 2 whose sheet has "
        f"no Tag2 column); false positive {tag_cls['false-positive']} ({fmt(tag_str['false-positive'])}); "
        f"generic {tag_cls['generic']} ({fmt(tag_str['generic'])}); unclear {tag_cls['unclear']} "
        f"({fmt(tag_str['unclear'])}); hedged between a fault and a screening outcome "
        f"{tag_cls['hedged']} ({fmt(tag_str['hedged'])}); a fault description (dl-fault) "
        f"{tag_cls['dl-fault']} ({n_dl_distinct} distinct strings). No cell holds '-' or "
        "'not relevant'.",
        f"Distribution of 'Final Tag' over the 1,059 artefacts: false positive "
        f"{final_cls['false-positive']}, generic {final_cls['generic']}, unclear "
        f"{final_cls['unclear']}, '-' {final_cls['dash']} (all in round 6: evaluators disagreed "
        "only among false positive/generic/unclear and no final tag was set), fault "
        f"description {final_cls['dl-fault']}, empty {final_cls['empty']}.",
        "Later decisions can override the final tag: when faults were inserted into the "
        "taxonomy, the 'Taxonomy Tag' of some artefacts with a fault final tag became "
        "'generic', 'false positive', 'unclear' or '-' (see the notes of humbatova2020); 149 "
        "artefacts were inserted as taxonomy faults (stats.xlsx).",
        "A few cells classed as fault descriptions are doubtful, e.g. 'feature-added', "
        "'configuration', 'what to do with bugs in test cases?'. Hedged cells are not aliases "
        "of any outcome.",
        "Examples are Stack Overflow artefacts whose evaluators all gave the same outcome, "
        "whose final tag agrees and which were not re-classified at taxonomy insertion (dl-fault "
        "examples were inserted into the taxonomy); titles come from Manual_Labelling/SO_init.",
        "'unclear' is an outcome the evaluators used often but is not one of the three "
        "screening outcomes; it is kept as a special code with role none.",
    ]
    book = {
        "id": "humbatova-screening",
        "title": "Humbatova et al. (ICSE 2020) artefact screening: DL fault, generic fault or false positive",
        "citation": CITATION,
        "version": "1.0",
        "levels": ["outcome"],
        "status": "complete",
        "description": (
            "Coarse screening decision that the evaluators of Humbatova et al. made for every "
            "Stack Overflow question and GitHub commit/issue/pull request before classifying it "
            "in the fault taxonomy (codebook humbatova2020): does the artefact report a real "
            "fault specific to a deep learning system, a generic programming fault, or no fault "
            "in a DL system at all? Generated by scripts/build_humbatova_codebook.py."
        ),
        "notes": notes,
        "nodes": [
            {
                "id": "dl-fault",
                "name": "DL fault",
                "definition": (
                    "The artefact reports a real fault in a program that uses a DL framework, and "
                    "the fault is specific to deep learning: it lies in the model, its tensors "
                    "and inputs, its training, its GPU usage or its use of the DL framework API. "
                    "The evaluator records it by writing a short description of the fault "
                    "(later mapped to a leaf of humbatova2020)."
                ),
                "include": [
                    "A developer's mistake in a DL program is identifiable from the artefact "
                    "(question with its accepted answer, issue discussion or commit fix).",
                    "The fault and its fix concern DL concepts: layers, tensor shapes, training "
                    "data and preprocessing, hyperparameters, loss, optimiser, GPU placement, "
                    "framework API semantics.",
                ],
                "exclude": [
                    "The mistake would be the same in any program (generic).",
                    "No fault is reported or the problem is in the framework, the documentation "
                    "or the environment (false-positive).",
                ],
                "examples": examples["dl-fault"],
                "frequency": {
                    "count": final_cls["dl-fault"],
                    "note": "artefacts whose 'Final Tag' is a fault description "
                    f"(rounds 1-6); {inserted} artefacts were finally inserted into "
                    f"the taxonomy with a fault 'Taxonomy Tag'; {tag_cls['dl-fault']} "
                    "of the Tag1..Tag4 cells are fault descriptions",
                },
                "provenance": "replication-package",
            },
            {
                "id": "generic",
                "name": "Generic fault",
                "definition": (
                    "The artefact reports a real fault, but one of general programming rather "
                    "than of deep learning: it would occur the same way in a program without a "
                    "DL component."
                ),
                "include": [
                    "Plain coding errors (wrong variable, wrong condition, typos, wrong data "
                    "structure handling) in a project that happens to use a DL framework.",
                    "Compatibility problems such as keywords renamed between framework versions "
                    "(the evaluators tagged these generic).",
                ],
                "exclude": [
                    "The fault involves a DL concept (dl-fault).",
                    "No fault of the project's code at all (false-positive).",
                ],
                "examples": examples["generic"],
                "frequency": {
                    "count": final_cls["generic"],
                    "note": "artefacts whose 'Final Tag' is 'generic' or a variant "
                    f"(rounds 1-6); {tag_cls['generic']} Tag1..Tag4 cells",
                },
                "provenance": "replication-package",
                "aliases": ["generic"]
                + [v for v in variants("generic", "generic") if v != "generic"],
            },
            {
                "id": "false-positive",
                "name": "False positive",
                "definition": (
                    "The artefact was retrieved by the search but does not report a fault in a "
                    "DL program: e.g. a how-to or conceptual question, a refactoring, a "
                    "documentation issue, or a bug in the DL framework itself."
                ),
                "include": [
                    "Questions asking how to do something, or about concepts, without a faulty "
                    "program.",
                    "Bugs in the framework/library rather than in the program using it, "
                    "documentation issues, refactorings (tags 'false positive (bug in the "
                    "framework)', '(documentation issue)', '(refactoring)').",
                ],
                "exclude": [
                    "A fault in the user's code, DL-specific (dl-fault) or not (generic).",
                    "The evaluator cannot tell from the artefact (unclear).",
                ],
                "examples": examples["false-positive"],
                "frequency": {
                    "count": final_cls["false-positive"],
                    "note": "artefacts whose 'Final Tag' is 'false positive' or a "
                    f"variant (rounds 1-6); {tag_cls['false-positive']} "
                    "Tag1..Tag4 cells",
                },
                "provenance": "replication-package",
                "aliases": ["false positive"] + variants("false-positive", "false positive"),
            },
        ],
        "special": [
            {
                "id": "unclear",
                "name": "Unclear",
                "definition": (
                    "The evaluator could not decide from the artefact whether and which fault "
                    "it reports (e.g. no accepted answer, too little information)."
                ),
                "include": ["Not enough information to choose among the three outcomes."],
                "exclude": ["Any case that can be decided."],
                "examples": examples["unclear"],
                "frequency": {
                    "count": final_cls["unclear"],
                    "note": "artefacts whose 'Final Tag' is 'unclear' (rounds 1-6); "
                    f"{tag_cls['unclear']} Tag1..Tag4 cells",
                },
                "provenance": "replication-package",
                "aliases": ["unclear"] + variants("unclear", "unclear"),
                "role": "none",
            },
        ],
    }
    return book, stats


# --------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_repr(dumper, value: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str_repr)


def dump(book: dict, path: Path, header: str) -> None:
    text = yaml.dump(
        book,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    path.write_text(header + text, encoding="utf-8")


HEADER = (
    "# Generated by scripts/build_humbatova_codebook.py from the replication package of\n"
    "# Humbatova et al., ICSE 2020 (github.com/dlfaults/taxonomy, CC BY 4.0). Do not edit\n"
    "# by hand: change the script and regenerate.\n"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "codebooks")
    ap.add_argument("--report", action="store_true", help="print mapping diagnostics")
    args = ap.parse_args(argv)
    b = Builder(args.data)
    tax = b.taxonomy()
    scr, stats = screening(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    dump(tax, args.out / "humbatova2020.yaml", HEADER)
    dump(scr, args.out / "humbatova-screening.yaml", HEADER)
    if args.report:
        print("unmapped round tags:", dict(b.unmapped_rounds))
        print("unmapped interview codes:", dict(b.unmapped_interview))
        print("non-leaf taxonomy tags:", dict(b.non_leaf_tax))
        print("code discrepancies:", *b.code_discrepancies, sep="\n  ")
        leaves = [n for n, lf in b.is_leaf.items() if lf]
        print("leaves:", len(leaves), "reconstructed:", [n for n in leaves if not b.attested(n)[0]])
        print("screening:", stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
