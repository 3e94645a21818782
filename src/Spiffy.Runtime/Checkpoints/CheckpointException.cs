namespace Spiffy.Checkpoints;

/// <summary>
/// A checkpoint, safetensors file or Hugging Face config could not be read, or does not fit the
/// model. The message always names the file (and the tensor or field) so a user can act on it.
/// </summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message) : base(message) { }
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}
